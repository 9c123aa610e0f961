//! AJP13 codec.
