//! The workers configuration: every worker built from workers.properties. The typed
//! definitions are in `defs`, the attribute table in `attributes`, the value enums in
//! `enums`, the building itself in `builder`; their public names are re-exported here.

use std::collections::BTreeMap;

use super::builder::build;
use super::properties::{ConfigError, Properties, Source};

pub use super::attributes::{ATTRIBUTES, AttrSpec, Multi, find_attribute};
pub use super::defs::{
    AjpParams, DEFAULT_HOST, DEFAULT_MAINTAIN_SECS, DEFAULT_PING_TIMEOUT_MS, DEFAULT_PORT,
    DEFAULT_RECOVER_TIME_SECS, DEFAULT_RETRIES, DEFAULT_RETRY_INTERVAL_MS, DEFAULT_UPLOAD_WINDOW,
    DEFAULT_WORKER, LbParams, MAX_NAME_LEN, MAX_PACKET_SIZE, MIN_PACKET_SIZE, StatusParams,
    WorkerDef, WorkerKind,
};
pub use super::enums::{Activation, LbLock, LbMethod, PingMode};

/// The validated workers configuration.
#[derive(Debug, Clone)]
pub struct WorkersConfig {
    /// `worker.list`, duplicates removed, in order.
    pub list: Vec<String>,
    /// `worker.maintain`; 0 disables maintenance.
    pub maintain_secs: i64,
    /// Every instantiated worker: the listed ones and the members of listed lbs.
    pub workers: BTreeMap<String, WorkerDef>,
    pub properties: Properties,
    pub warnings: Vec<String>,
    /// Active health checks (src/health); empty without `health_check_interval`.
    pub health: super::health::Plan,
}

impl WorkersConfig {
    /// Builds and validates. Returns the first error (with origin) or the config with warnings.
    pub fn from_sources(
        sources: &[Source<'_>],
        server_root: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<WorkersConfig, ConfigError> {
        let (properties, warnings) = Properties::parse(sources, server_root, env)?;
        WorkersConfig::from_properties(properties, warnings)
    }

    /// mod_jk's configuration when there is neither JkWorkersFile nor JkWorkerProperty:
    /// `worker.list=ajp13` and an ajp13 worker `ajp13` at localhost:8009.
    pub fn implicit() -> WorkersConfig {
        WorkersConfig::from_properties(Properties::default(), Vec::new())
            .expect("the built-in configuration is valid")
    }

    pub fn from_properties(
        properties: Properties,
        warnings: Vec<String>,
    ) -> Result<WorkersConfig, ConfigError> {
        let built = build(&properties, warnings)?;
        let health = super::health::Plan::from_parts(&properties, &built.list, &built.workers)?;
        Ok(WorkersConfig {
            health,
            list: built.list,
            maintain_secs: built.maintain_secs,
            workers: built.workers,
            properties,
            warnings: built.warnings,
        })
    }

    pub fn get(&self, name: &str) -> Option<&WorkerDef> {
        self.workers.get(name)
    }
}
#[cfg(test)]
mod tests;
