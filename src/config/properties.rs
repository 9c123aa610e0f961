//! workers.properties file syntax.
