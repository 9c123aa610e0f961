//! Configuration: workers.properties (`properties` parses it, `builder` turns it into the
//! typed `workers`, both checked against the `attributes` table) and the Jk* directives.

pub mod attributes;
mod builder;
pub mod directives;
pub mod enums;
pub mod properties;
pub mod workers;

#[cfg(test)]
mod coverage;
