//! Request flow.
