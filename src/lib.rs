//! mod_rjk: an Apache httpd 2.4 connector for Tomcat over AJP13, drop-in for mod_jk.
//!
//! Layers, top to bottom: `module` (the C entry points httpd calls), `handler` (request
//! flow), the pure core (`config`, `mapping`, `ajp`, `lb`, `status`, `shm`, `log`) and the
//! httpd skin (`httpd`), which holds every `unsafe` line of the crate.

pub mod ajp;
pub mod config;
pub mod log;
pub mod mapping;

mod handler;
mod httpd;
mod module;

/// Version announced in the Server header component and the status pages.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
