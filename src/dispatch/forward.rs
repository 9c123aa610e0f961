//! The forwarding rules: which URI, addresses, names, TLS values and environment
//! variables a FORWARD_REQUEST carries, from what httpd knows of the request, the
//! JkOptions (`ForwardURI*`, `ForwardLocalAddress`, `ForwardPhysicalAddress`,
//! `ForwardSSLCertChain`, `ForwardKeySize`), the indicator directives (`JkRemoteAddrIndicator`
//! and the others, `JkCERTCHAINPrefix`) and `JkEnvVar`.

use std::borrow::Cow;

use crate::ajp::{self, ForwardRequest};
use crate::config::directives::{Indicator, ServerConf, opt};
use crate::mapping;

/// What httpd knows of a request, borrowed from it for the handler call.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo<'a> {
    pub method: &'a [u8],
    pub protocol: &'a [u8],
    pub uri: &'a [u8],
    pub unparsed_uri: &'a [u8],
    pub args: Option<&'a [u8]>,
    pub user: Option<&'a [u8]>,
    pub auth_type: Option<&'a [u8]>,
    pub client_ip: &'a [u8],
    pub client_port: u16,
    pub peer_ip: &'a [u8],
    pub peer_port: u16,
    pub remote_host: Option<&'a [u8]>,
    pub local_ip: &'a [u8],
    pub server_name: &'a [u8],
    pub server_port: u16,
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    pub header_only: bool,
}

/// A request value from an environment variable named by an indicator directive,
/// falling back to what httpd knows.
fn env_or<'a>(
    env: &dyn Fn(&str) -> Option<String>,
    conf: &ServerConf,
    ind: Indicator,
    fallback: &'a [u8],
) -> Cow<'a, [u8]> {
    env_or_opt(env, conf, ind, Some(fallback)).unwrap_or_default()
}

/// An indicator variable's value, else what httpd knows.
fn env_or_opt<'a>(
    env: &dyn Fn(&str) -> Option<String>,
    conf: &ServerConf,
    ind: Indicator,
    fallback: Option<&'a [u8]>,
) -> Option<Cow<'a, [u8]>> {
    match env(conf.indicator(ind)) {
        Some(v) => Some(Cow::Owned(v.into_bytes())),
        None => fallback.map(Cow::Borrowed),
    }
}

pub struct Forwarded<'r> {
    pub info: RequestInfo<'r>,
    pub req_uri: Vec<u8>,
    pub remote_addr: Cow<'r, [u8]>,
    pub remote_port: u16,
    pub remote_host: Option<Cow<'r, [u8]>>,
    pub remote_user: Option<Cow<'r, [u8]>>,
    pub auth_type: Option<Cow<'r, [u8]>>,
    pub server_name: Cow<'r, [u8]>,
    pub server_port: u16,
    pub local_addr: Cow<'r, [u8]>,
    pub is_ssl: bool,
    pub ssl: [Option<Vec<u8>>; 4],
    pub ssl_key_size: Option<u16>,
    pub env_vars: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Forwarded<'_> {
    /// The FORWARD_REQUEST for one worker or lb member.
    pub fn request<'a>(
        &'a self,
        body: ajp::BodyMode,
        secret: Option<&'a str>,
        route: Option<&'a [u8]>,
        activation: &'a [u8],
    ) -> ForwardRequest<'a> {
        ForwardRequest {
            method: self.info.method,
            protocol: self.info.protocol,
            req_uri: &self.req_uri,
            remote_addr: &self.remote_addr,
            remote_host: self.remote_host.as_deref(),
            server_name: &self.server_name,
            server_port: self.server_port,
            is_ssl: self.is_ssl,
            headers: self.info.headers.clone(),
            body,
            secret: secret.map(str::as_bytes),
            remote_user: self.remote_user.as_deref(),
            auth_type: self.auth_type.as_deref(),
            query_string: self.info.args,
            route,
            ssl_cert: self.ssl[0].as_deref(),
            ssl_cipher: self.ssl[1].as_deref(),
            ssl_session: self.ssl[2].as_deref(),
            ssl_key_size: self.ssl_key_size,
            ssl_protocol: self.ssl[3].as_deref(),
            remote_port: self.remote_port,
            local_addr: &self.local_addr,
            lb_activation: activation,
            env_vars: self
                .env_vars
                .iter()
                .map(|(n, v)| (n.as_slice(), v.as_slice()))
                .collect(),
        }
    }
}

/// Collects what mod_jk forwards, applying JkOptions and the indicator variables:
/// `info` is what httpd knows of the request, `orig_uri` the decoded URI before our
/// normalisation (if it changed), `env` the request's environment variables.
pub fn forwarded<'r>(
    info: RequestInfo<'r>,
    orig_uri: Option<String>,
    conf: &ServerConf,
    env: &dyn Fn(&str) -> Option<String>,
) -> Forwarded<'r> {
    let decoded = orig_uri
        .map(String::into_bytes)
        .unwrap_or_else(|| info.uri.to_vec());
    let req_uri = if conf.has_option(opt::FORWARD_URI_COMPAT_UNPARSED) {
        let u = info.unparsed_uri;
        u[..u.iter().position(|&b| b == b'?').unwrap_or(u.len())].to_vec()
    } else if conf.has_option(opt::FORWARD_URI_COMPAT) {
        decoded
    } else if conf.has_option(opt::FORWARD_URI_ESCAPED) {
        mapping::escape_uri_lower(&decoded)
    } else {
        mapping::escape_forward_uri(&decoded)
    };
    let (addr, port) = if conf.has_option(opt::FORWARD_LOCAL_ADDRESS) {
        (info.local_ip, 0)
    } else if conf.has_option(opt::FORWARD_PHYSICAL_ADDRESS) {
        (info.peer_ip, info.peer_port)
    } else {
        (info.client_ip, info.client_port)
    };
    let remote_addr = env_or(env, conf, Indicator::RemoteAddr, addr);
    let remote_port = env(conf.indicator(Indicator::RemotePort))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(port);
    let remote_host = env_or_opt(env, conf, Indicator::RemoteHost, info.remote_host);
    let remote_user = env_or_opt(env, conf, Indicator::RemoteUser, info.user);
    let auth_type = env_or_opt(env, conf, Indicator::AuthType, info.auth_type);
    let server_name = env_or(env, conf, Indicator::LocalName, info.server_name);
    let server_port = env(conf.indicator(Indicator::LocalPort))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(info.server_port);
    let local_addr = env_or(env, conf, Indicator::LocalAddr, info.local_ip);
    let extract = conf.extract_ssl.unwrap_or(true);
    let is_ssl = extract
        && env(conf.indicator(Indicator::Https)).is_some_and(|v| v.eq_ignore_ascii_case("on"));
    let ssl_env = |ind| {
        if is_ssl {
            env(conf.indicator(ind))
                .filter(|v| !v.is_empty())
                .map(String::into_bytes)
        } else {
            None
        }
    };
    let mut cert = ssl_env(Indicator::Certs);
    if is_ssl && conf.has_option(opt::FORWARD_SSL_CERT_CHAIN) {
        let prefix = conf.indicator(Indicator::CertChainPrefix);
        for i in 0.. {
            match env(&format!("{prefix}{i}")) {
                Some(c) => cert
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(c.as_bytes()),
                None => break,
            }
        }
    }
    let ssl_key_size = if is_ssl && conf.has_option(opt::FORWARD_KEY_SIZE) {
        env(conf.indicator(Indicator::KeySize)).and_then(|v| v.trim().parse().ok())
    } else {
        None
    };
    let ssl = [
        cert,
        ssl_env(Indicator::Cipher),
        ssl_env(Indicator::Session),
        ssl_env(Indicator::SslProtocol),
    ];
    // JkEnvVar: sent when set (even empty); with a default, always sent.
    let env_vars = conf
        .env_vars
        .iter()
        .filter_map(|(name, default)| {
            let v = env(name).or_else(|| default.clone())?;
            Some((name.clone().into_bytes(), v.into_bytes()))
        })
        .collect();
    Forwarded {
        info,
        req_uri,
        remote_addr,
        remote_port,
        remote_host,
        remote_user,
        auth_type,
        server_name,
        server_port,
        local_addr,
        is_ssl,
        ssl,
        ssl_key_size,
        env_vars,
    }
}

#[cfg(test)]
#[path = "forward_tests.rs"]
mod tests;
