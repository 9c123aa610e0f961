//! The JK log (`JkLogFile`, `JkLogLevel`, `JkLogStampFormat`).
//!
//! Line layout follows mod_jk so existing log parsers keep working:
//! `<stamp>[<request id>] [<pid>:<tid>] [<level>] <function>::<file> (<line>): <message>`.
//!
//! Many processes and threads write the same file or pipe. Instead of mod_jk's global
//! mutex, every line is written with one `write(2)` on a descriptor opened `O_APPEND`
//! (files) or to a pipe with lines capped below `PIPE_BUF`: both make the kernel append
//! each line whole, so lines never interleave and no lock can be left held by a dying child.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::config::directives::LogLevel;

/// Longest line written; longer messages are cut and end in `...`. Below PIPE_BUF (4096)
/// so writes to a piped logger stay atomic.
pub const MAX_LINE: usize = 4000;

pub const DEFAULT_STAMP: &str = "[%a %b %d %H:%M:%S.%Q %Y] ";

#[derive(Debug)]
pub struct Logger {
    fd: OwnedFd,
    level: LogLevel,
    stamp: StampFormat,
}

/// Where a log line comes from (what mod_jk prints as `function::file (line)`).
#[derive(Debug, Clone, Copy)]
pub struct Site {
    pub function: &'static str,
    pub file: &'static str,
    pub line: u32,
}

#[macro_export]
macro_rules! site {
    ($func:expr) => {
        $crate::log::Site {
            function: $func,
            file: file!(),
            line: line!(),
        }
    };
}

impl Logger {
    /// Opens (creating, mode 0644) a log file for appending.
    pub fn open_file(path: &str, level: LogLevel, stamp: &str) -> io::Result<Logger> {
        let f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        Ok(Logger {
            fd: f.into(),
            level,
            stamp: StampFormat::parse(stamp),
        })
    }

    /// Wraps an already open descriptor (the write end of httpd's piped logger).
    pub fn from_fd(fd: OwnedFd, level: LogLevel, stamp: &str) -> Logger {
        Logger {
            fd,
            level,
            stamp: StampFormat::parse(stamp),
        }
    }

    /// A logger sharing this one's descriptor with another level/stamp (vhosts that name
    /// the same JkLogFile but log at a different level).
    pub fn with_settings(&self, level: LogLevel, stamp: &str) -> io::Result<Logger> {
        Ok(Logger {
            fd: self.fd.try_clone()?,
            level,
            stamp: StampFormat::parse(stamp),
        })
    }

    pub fn level(&self) -> LogLevel {
        self.level
    }

    pub fn enabled(&self, level: LogLevel) -> bool {
        level >= self.level
    }

    pub fn log(&self, level: LogLevel, request_id: Option<&str>, site: Site, msg: &str) {
        if !self.enabled(level) {
            return;
        }
        let line = format_line(&self.stamp, level, request_id, site, msg, now());
        // A failed log write has nowhere better to go; never let it disturb the request.
        // SAFETY: the descriptor is owned by self and stays open for the call; the buffer
        // is a valid slice of `line.len()` bytes.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), line.as_ptr().cast(), line.len()) };
    }
}

/// Seconds and microseconds since the epoch.
fn now() -> (i64, u32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.subsec_micros())
}

/// A JkLogStampFormat split around its single `%Q` (milliseconds) or `%q` (microseconds),
/// which strftime does not know.
#[derive(Debug, Clone)]
struct StampFormat {
    before: CString,
    sub: Option<SubSecond>,
    after: CString,
}

#[derive(Debug, Clone, Copy)]
enum SubSecond {
    Millis,
    Micros,
}

impl StampFormat {
    fn parse(fmt: &str) -> StampFormat {
        let clean = |s: &str| CString::new(s.replace('\0', "")).unwrap_or_default();
        for (pat, sub) in [("%Q", SubSecond::Millis), ("%q", SubSecond::Micros)] {
            if let Some(pos) = fmt.find(pat) {
                return StampFormat {
                    before: clean(&fmt[..pos]),
                    sub: Some(sub),
                    after: clean(&fmt[pos + 2..]),
                };
            }
        }
        StampFormat {
            before: clean(fmt),
            sub: None,
            after: CString::default(),
        }
    }

    fn render(&self, secs: i64, micros: u32, out: &mut String) {
        // SAFETY: an all-zero tm is a valid value for localtime_r to overwrite.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let t: libc::time_t = secs as libc::time_t;
        // SAFETY: both pointers are valid for the call; localtime_r is thread-safe.
        unsafe { libc::localtime_r(&t, &mut tm) };
        strftime_into(&self.before, &tm, out);
        match self.sub {
            Some(SubSecond::Millis) => out.push_str(&format!("{:03}", micros / 1000)),
            Some(SubSecond::Micros) => out.push_str(&format!("{micros:06}")),
            None => {}
        }
        strftime_into(&self.after, &tm, out);
    }
}

fn strftime_into(fmt: &CString, tm: &libc::tm, out: &mut String) {
    if fmt.as_bytes().is_empty() {
        return;
    }
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its length, fmt is NUL-terminated, tm was filled by
    // localtime_r; strftime writes at most buf.len() bytes and returns how many.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), tm) };
    out.push_str(&String::from_utf8_lossy(&buf[..n]));
}

fn thread_id() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

fn format_line(
    stamp: &StampFormat,
    level: LogLevel,
    request_id: Option<&str>,
    site: Site,
    msg: &str,
    (secs, micros): (i64, u32),
) -> String {
    let mut line = String::with_capacity(128 + msg.len());
    stamp.render(secs, micros, &mut line);
    let file = site.file.rsplit('/').next().unwrap_or(site.file);
    line.push_str(&format!(
        "[{}] [{}:{}] [{}] {}::{} ({}): ",
        request_id.unwrap_or("NO-ID"),
        std::process::id(),
        thread_id(),
        level.as_str(),
        site.function,
        file,
        site.line
    ));
    // Control characters from request data must not forge extra log lines.
    for c in msg.chars() {
        line.push(if c.is_control() { '?' } else { c });
    }
    if line.len() > MAX_LINE - 1 {
        let mut cut = MAX_LINE - 4;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push_str("...");
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site {
            function: "map_uri",
            file: "src/handler.rs",
            line: 42,
        }
    }

    #[test]
    fn line_layout_matches_mod_jk() {
        let s = StampFormat::parse("[%Y %H:%M:%S.%Q] ");
        let line = format_line(
            &s,
            LogLevel::Info,
            Some("abc"),
            site(),
            "hello",
            (0, 123_456),
        );
        let pid = std::process::id();
        assert!(line.starts_with("[1970 "), "{line}");
        assert!(line.contains(".123] [abc] "), "{line}");
        assert!(line.contains(&format!("[{pid}:")), "{line}");
        assert!(
            line.ends_with("[info] map_uri::handler.rs (42): hello\n"),
            "{line}"
        );
        let micro = StampFormat::parse("%q|");
        let line = format_line(&micro, LogLevel::Error, None, site(), "x", (0, 7));
        assert!(line.starts_with("000007|[NO-ID]"), "{line}");
    }

    #[test]
    fn long_and_hostile_messages_stay_one_line() {
        let s = StampFormat::parse("");
        let line = format_line(&s, LogLevel::Warn, None, site(), "a\nb\rc", (0, 0));
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.contains("a?b?c"));
        let long = "é".repeat(5000);
        let line = format_line(&s, LogLevel::Warn, None, site(), &long, (0, 0));
        assert!(line.len() <= MAX_LINE);
        assert!(line.ends_with("...\n"));
    }

    #[test]
    fn level_filter_and_concurrent_appends_keep_lines_whole() {
        let dir = std::env::temp_dir().join(format!("rjk-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jk.log");
        let p = path.to_str().unwrap().to_string();
        let log = std::sync::Arc::new(Logger::open_file(&p, LogLevel::Info, "").unwrap());
        log.log(LogLevel::Debug, None, site(), "hidden");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        log.log(
                            LogLevel::Info,
                            None,
                            site(),
                            &format!("t{t} i{i} {}", "x".repeat(900)),
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("hidden"));
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 1600);
        assert!(
            lines
                .iter()
                .all(|l| l.contains("[info] map_uri") && l.ends_with(&"x".repeat(900)))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
