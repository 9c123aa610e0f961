//! mod_rjk: an Apache httpd 2.4 connector for Tomcat over AJP13, drop-in for mod_jk.
//!
//! Layers, top to bottom: `module` (the C entry points httpd calls), the shells `handler`
//! (httpd side), `backend` (sockets) and `health` (checks and re-resolution), which move bytes and run what the request policy
//! `dispatch` (with `ajp::relay`) decides, the rest of the pure core (`config`, `mapping`,
//! `ajp`, `lb`, `status`, `shm`, `log`, `reqlog`) and the httpd skin (`httpd`), which
//! holds every `unsafe` line of the crate besides the entry points.

// A dependency the module does not use fails the build (clippy runs with -D warnings).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod ajp;
pub mod backend;
pub mod config;
pub mod dispatch;
pub mod endpoint;
pub mod health;
pub mod lb;
pub mod log;
pub mod mapping;
pub mod reqlog;
pub mod shm;
pub mod status;

// The shells, the httpd skin and the entry points are compiled into the unit-test
// binary too (unused there: their httpd symbols are never linked in).
#[cfg_attr(test, allow(dead_code))]
mod handler;
#[cfg_attr(test, allow(dead_code))]
mod httpd;
#[cfg_attr(test, allow(dead_code))]
mod module;

/// Version announced in the Server header component and the status pages.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
