//! The `host` of an ajp13 worker as text: a TCP host name or address, or a Unix domain
//! socket named `unix:/path` (Tomcat's `unixDomainSocketPath`). Connecting is the
//! backend's business (`endpoint`); this is what configuration and status pages need.

use std::path::Path;

/// The `host` prefix that names a Unix domain socket.
pub const UNIX_PREFIX: &str = "unix:";

/// Longest socket path the kernel accepts (`sun_path` less its terminating NUL).
pub const MAX_UNIX_PATH: usize = 107;

/// The socket path of a `unix:/path` host; `None` for a TCP host.
pub fn unix_path(host: &str) -> Option<&Path> {
    host.strip_prefix(UNIX_PREFIX).map(Path::new)
}

/// Whether `host` names a Unix domain socket.
pub fn is_unix(host: &str) -> bool {
    unix_path(host).is_some()
}

/// Checks a `unix:` host: an absolute path the kernel can bind. `Ok` for TCP hosts.
pub fn check_host(host: &str) -> Result<(), String> {
    let Some(path) = unix_path(host) else {
        return Ok(());
    };
    let text = path.to_string_lossy();
    if !path.is_absolute() {
        return Err(format!(
            "'{host}': a Unix socket path must be absolute, e.g. unix:/run/tomcat/ajp.sock"
        ));
    }
    if text.len() > MAX_UNIX_PATH {
        return Err(format!(
            "'{host}': a Unix socket path has at most {MAX_UNIX_PATH} bytes"
        ));
    }
    Ok(())
}

/// The worker attributes that have no meaning for a Unix socket worker, with why.
pub const NOT_FOR_UNIX: [(&str, &str); 2] = [
    (
        "source",
        "source does not apply to a Unix socket worker (host=unix:...); ignored",
    ),
    (
        "socket_keepalive",
        "socket_keepalive does not apply to a Unix socket worker (host=unix:...); ignored",
    ),
];

/// The address as the status page shows it: `host:port`, or `unix:/path`.
pub fn address(host: &str, port: impl std::fmt::Display) -> String {
    if is_unix(host) {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_hosts_are_recognised_and_checked() {
        assert_eq!(
            unix_path("unix:/run/a.sock"),
            Some(Path::new("/run/a.sock"))
        );
        assert_eq!(unix_path("localhost"), None);
        assert!(check_host("unix:/run/a.sock").is_ok());
        assert!(check_host("tomcat.internal").is_ok());
        assert!(
            check_host("unix:run/a.sock")
                .unwrap_err()
                .contains("absolute")
        );
        let long = format!("unix:/{}", "a".repeat(120));
        assert!(check_host(&long).unwrap_err().contains("107"));
    }

    #[test]
    fn addresses_show_the_socket_path_or_host_and_port() {
        assert_eq!(address("unix:/run/a.sock", 8009), "unix:/run/a.sock");
        assert_eq!(address("127.0.0.1", 8009), "127.0.0.1:8009");
    }

    fn workers(contents: &str) -> Result<crate::config::workers::WorkersConfig, String> {
        use crate::config::properties::Source;
        crate::config::workers::WorkersConfig::from_sources(
            &[Source::File {
                path: "workers.properties",
                contents,
            }],
            "/srv/httpd",
            &|_| None,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_unix_worker_ignores_port_and_warns_about_source_and_keepalive() {
        let c = workers(
            "worker.list=a\nworker.a.host=unix:/run/t/ajp.sock\nworker.a.port=0\n\
             worker.a.source=10.0.0.1\nworker.a.socket_keepalive=true\n",
        )
        .unwrap();
        let a = c.get("a").and_then(|d| d.ajp()).unwrap();
        // port=0 stops a TCP worker, not a Unix socket one.
        assert_eq!(a.activation, crate::config::workers::Activation::Active);
        assert_eq!(a.source, None);
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("worker.a.") && c.warnings[0].contains("ignored"));
        let e = workers("worker.list=a\nworker.a.host=unix:ajp.sock\n").unwrap_err();
        assert!(
            e.contains("workers.properties") && e.contains("absolute"),
            "{e}"
        );
    }
}
