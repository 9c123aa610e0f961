//! Module entry.
