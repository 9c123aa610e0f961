//! Configuration: workers.properties (`properties`, `workers`) and the Jk* directives.

pub mod directives;
pub mod properties;
pub mod workers;

#[cfg(test)]
mod coverage;
