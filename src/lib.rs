//! mod_rjk: an Apache httpd 2.4 connector for Tomcat over AJP13, drop-in for mod_jk.
//!
//! Layers, top to bottom: `module` (the C entry points httpd calls), `handler` (request
//! flow), the pure core (`config`, `mapping`, `ajp`, `lb`, `status`, `shm`, `log`,
//! `reqlog`) and the
//! httpd skin (`httpd`), which holds every `unsafe` line of the crate.

// A dependency the module does not use fails the build (clippy runs with -D warnings).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod ajp;
pub mod backend;
pub mod config;
pub mod dispatch;
pub mod lb;
pub mod log;
pub mod mapping;
pub mod reqlog;
pub mod shm;
pub mod status;

// The httpd-facing layers reference symbols that only the httpd executable provides, so
// the unit-test binary of the pure core is built without them.
#[cfg(not(test))]
mod handler;
#[cfg(not(test))]
mod httpd;
#[cfg(not(test))]
mod module;

/// Version announced in the Server header component and the status pages.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
