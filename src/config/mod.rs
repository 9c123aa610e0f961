//! Configuration: workers.properties and the Jk* directives.
//!
//! Dependencies run one way: `properties` (file syntax) reads the `attributes` table;
//! `builder` turns properties into the `defs` types (with the `enums`); `workers` holds
//! the result and re-exports the names of all of them; `directives` uses `workers`.

pub mod attributes;
mod builder;
pub mod defs;
pub mod directives;
pub mod enums;
pub mod health;
pub mod host;
pub mod properties;
pub mod workers;

#[cfg(test)]
mod coverage;
