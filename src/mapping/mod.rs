//! Mapping.
