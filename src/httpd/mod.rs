//! httpd skin.
pub mod ffi;
