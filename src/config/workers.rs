//! Typed worker definitions.
