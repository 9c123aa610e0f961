//! Where an ajp13 worker's backend listens: a TCP host and port, or a Unix domain socket
//! named by `worker.X.host=unix:/path` (Tomcat's `unixDomainSocketPath`). A Unix socket
//! worker ignores `port`; `source` and `socket_keepalive` do not apply to it (a warning at
//! configuration time); every other attribute keeps its meaning, `socket_connect_timeout`
//! included (it bounds the wait for room in Tomcat's listen backlog).

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

pub use crate::config::host::{
    MAX_UNIX_PATH, NOT_FOR_UNIX, UNIX_PREFIX, address, check_host, is_unix, unix_path,
};

/// One connection to a backend, over TCP or a Unix domain socket.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(d),
            Stream::Unix(s) => s.set_read_timeout(d),
        }
    }

    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(d),
            Stream::Unix(s) => s.set_write_timeout(d),
        }
    }
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Stream {
        Stream::Tcp(s)
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Connects to the Unix socket at `path`. `timeout` bounds the wait when Tomcat's listen
/// backlog is full (a Unix connect never waits for anything else); `buffer` sets SO_SNDBUF
/// and SO_RCVBUF when above 0. The error names the path and carries a hint.
pub fn connect_unix(
    path: &Path,
    timeout: Option<Duration>,
    buffer: usize,
) -> io::Result<UnixStream> {
    let attempt = || -> io::Result<UnixStream> {
        let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        if buffer > 0 {
            sock.set_send_buffer_size(buffer)?;
            sock.set_recv_buffer_size(buffer)?;
        }
        // A blocking connect on a full backlog waits up to the send timeout.
        sock.set_write_timeout(timeout)?;
        sock.connect(&SockAddr::unix(path)?)?;
        Ok(UnixStream::from(std::os::fd::OwnedFd::from(sock)))
    };
    attempt().map_err(|e| unix_error(path, e))
}

/// A connect error on `path`, in words an admin can act on. A missing socket, a stale one
/// and one the child may not open all mean that nothing will answer there: their kind is
/// `ConnectionRefused`, so a load balancer fails over as for a refused TCP connect. The
/// message keeps the system's error text and number.
pub fn unix_error(path: &Path, e: io::Error) -> io::Error {
    let (kind, hint) = match e.kind() {
        ErrorKind::NotFound => (
            ErrorKind::ConnectionRefused,
            "no socket there: is Tomcat running, with unixDomainSocketPath set to this path \
             on its AJP connector?",
        ),
        ErrorKind::PermissionDenied => (
            ErrorKind::ConnectionRefused,
            "the httpd child user needs write permission on the socket and search permission \
             on its directories: give it a group shared with Tomcat and set the connector's \
             unixDomainSocketPathPermissions (e.g. rw-rw----)",
        ),
        ErrorKind::ConnectionRefused => (
            ErrorKind::ConnectionRefused,
            "nothing listens on it (a socket left by a stopped Tomcat, or not a socket)",
        ),
        ErrorKind::WouldBlock | ErrorKind::TimedOut => (
            ErrorKind::TimedOut,
            "Tomcat's listen backlog stayed full for socket_connect_timeout",
        ),
        kind => (kind, ""),
    };
    let sep = if hint.is_empty() { "" } else { "; " };
    io::Error::new(
        kind,
        format!("unix socket {}: {e}{sep}{hint}", path.display()),
    )
}

/// What an admin check finds at a socket path: `Err` when it cannot work at all (missing,
/// not a socket), `Ok(Some(warning))` when it exists but this process may not open it.
pub fn inspect_socket(path: &Path) -> Result<Option<String>, String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => format!(
            "{} does not exist (Tomcat not running, or its unixDomainSocketPath differs)",
            path.display()
        ),
        _ => format!("{}: {e}", path.display()),
    })?;
    if !meta.file_type().is_socket() {
        return Err(format!("{} exists but is not a socket", path.display()));
    }
    Ok(access_warning(path, &meta))
}

/// Why the httpd child user may be unable to connect, if it looks so. As root, from the
/// mode bits (only the owner may write: the child must run as that owner); otherwise by a
/// connect attempt, closed at once (it costs the backend one accepted connection).
fn access_warning(path: &Path, meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let hint = "the httpd child user needs read and write permission on it \
                (Tomcat's unixDomainSocketPathPermissions, e.g. rw-rw---- with a shared group)";
    let euid_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if euid_root {
        let mode = meta.mode();
        return (mode & 0o022 == 0).then(|| {
            format!(
                "{}: only its owner (uid {}) may connect (mode {:o}); {hint}",
                path.display(),
                meta.uid(),
                mode & 0o777
            )
        });
    }
    UnixStream::connect(path)
        .err()
        .map(|e| format!("{}: {e}; {hint}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_socket_is_refused_with_path_errno_and_hint() {
        let dir = std::env::temp_dir().join(format!("rjk-endpoint-{}", std::process::id()));
        let path = dir.join("none.sock");
        let e = connect_unix(&path, Some(Duration::from_secs(1)), 0).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        let msg = e.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("os error 2"), "{msg}");
        assert!(msg.contains("unixDomainSocketPath"), "{msg}");
        assert!(
            inspect_socket(&path)
                .unwrap_err()
                .contains("does not exist")
        );
    }

    #[test]
    fn a_listening_socket_connects_and_a_plain_file_is_not_a_socket() {
        let dir = std::env::temp_dir().join(format!("rjk-endpoint-ok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.sock");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let mut s = Stream::Unix(connect_unix(&path, None, 16384).unwrap());
        let (mut peer, _) = listener.accept().unwrap();
        s.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(inspect_socket(&path), Ok(None));
        let file = dir.join("plain");
        std::fs::write(&file, "x").unwrap();
        assert!(inspect_socket(&file).unwrap_err().contains("not a socket"));
        let e = connect_unix(&file, None, 0).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
