//! The JK log (`JkLogFile`, `JkLogLevel`, `JkLogStampFormat`).
//!
//! Line layout follows mod_jk so existing log parsers keep working:
//! `<stamp>[<request id>] [<pid>:<tid>] [<level>] <function>::<file> (<line>): <message>`.
//!
//! Many processes and threads write the same file or pipe. Instead of mod_jk's global
//! mutex, every line is written with one `write(2)` on a descriptor opened `O_APPEND`
//! (files) or to a pipe with lines capped below `PIPE_BUF`: both make the kernel append
//! each line whole, so lines never interleave and no lock can be left held by a dying child.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;

use crate::config::directives::LogLevel;

/// Longest line written; longer messages are cut and end in `...`. Below PIPE_BUF (4096)
/// so writes to a piped logger stay atomic.
pub const MAX_LINE: usize = 4000;

pub const DEFAULT_STAMP: &str = "[%a %b %d %H:%M:%S.%Q %Y] ";

/// What the log needs from the platform, supplied by the caller so this module stays
/// free of FFI: local-time strftime of a format (without `%Q`/`%q`) for a Unix time,
/// and the id of the calling thread.
#[derive(Clone, Copy)]
pub struct Clock {
    pub strftime: fn(&str, i64) -> String,
    pub thread_id: fn() -> u64,
}

pub struct Logger {
    file: File,
    level: LogLevel,
    stamp: StampFormat,
    clock: Clock,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("level", &self.level)
            .finish()
    }
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
    pub fn open_file(path: &str, level: LogLevel, stamp: &str, clock: Clock) -> io::Result<Logger> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        Ok(Logger {
            file,
            level,
            stamp: StampFormat::parse(stamp),
            clock,
        })
    }

    /// Wraps an already open descriptor (the write end of httpd's piped logger).
    pub fn from_fd(fd: OwnedFd, level: LogLevel, stamp: &str, clock: Clock) -> Logger {
        Logger {
            file: File::from(fd),
            level,
            stamp: StampFormat::parse(stamp),
            clock,
        }
    }

    /// A logger sharing this one's descriptor with another level/stamp (vhosts that name
    /// the same JkLogFile but log at a different level).
    pub fn with_settings(&self, level: LogLevel, stamp: &str) -> io::Result<Logger> {
        Ok(Logger {
            file: self.file.try_clone()?,
            level,
            stamp: StampFormat::parse(stamp),
            clock: self.clock,
        })
    }

    pub fn level(&self) -> LogLevel {
        self.level
    }

    pub fn enabled(&self, level: LogLevel) -> bool {
        level >= self.level
    }

    /// A `JkRequestLogFormat` line: the time stamp and the line, whatever the level.
    pub fn log_request(&self, line: &str) {
        let mut out = String::with_capacity(64 + line.len());
        let (secs, micros) = now();
        self.stamp.render(&self.clock, secs, micros, &mut out);
        out.push_str(line);
        out.push('\n');
        let _ = (&self.file).write(out.as_bytes());
    }

    pub fn log(&self, level: LogLevel, request_id: Option<&str>, site: Site, msg: &str) {
        if !self.enabled(level) {
            return;
        }
        let line = format_line(
            &self.stamp,
            &self.clock,
            level,
            request_id,
            site,
            msg,
            now(),
        );
        // One write(2) per line (see the module comment). A failed log write has nowhere
        // better to go; it must never disturb the request.
        let _ = (&self.file).write(line.as_bytes());
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
    before: String,
    sub: Option<SubSecond>,
    after: String,
}

#[derive(Debug, Clone, Copy)]
enum SubSecond {
    Millis,
    Micros,
}

impl StampFormat {
    fn parse(fmt: &str) -> StampFormat {
        let clean = |s: &str| s.replace('\0', "");
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
            after: String::new(),
        }
    }

    fn render(&self, clock: &Clock, secs: i64, micros: u32, out: &mut String) {
        if !self.before.is_empty() {
            out.push_str(&(clock.strftime)(&self.before, secs));
        }
        match self.sub {
            Some(SubSecond::Millis) => out.push_str(&format!("{:03}", micros / 1000)),
            Some(SubSecond::Micros) => out.push_str(&format!("{micros:06}")),
            None => {}
        }
        if !self.after.is_empty() {
            out.push_str(&(clock.strftime)(&self.after, secs));
        }
    }
}

fn format_line(
    stamp: &StampFormat,
    clock: &Clock,
    level: LogLevel,
    request_id: Option<&str>,
    site: Site,
    msg: &str,
    (secs, micros): (i64, u32),
) -> String {
    let mut line = String::with_capacity(128 + msg.len());
    stamp.render(clock, secs, micros, &mut line);
    // A module's `mod.rs` is named after its directory (`src/handler/mod.rs`: handler.rs).
    let mut parts = site.file.rsplit('/');
    let file = parts.next().unwrap_or(site.file);
    let dir = parts.next().filter(|_| file == "mod.rs");
    line.push_str(&format!(
        "[{}] [{}:{}] [{}] {}::{}{} ({}): ",
        request_id.unwrap_or("NO-ID"),
        std::process::id(),
        (clock.thread_id)(),
        level.as_str(),
        site.function,
        dir.unwrap_or(file),
        if dir.is_some() { ".rs" } else { "" },
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

    /// A UTC stand-in for strftime that knows the few conversions the tests use.
    fn utc(fmt: &str, secs: i64) -> String {
        let (y, rest) = (1970 + secs / 31_557_600, secs % 86_400);
        fmt.replace("%Y", &y.to_string())
            .replace("%H", &format!("{:02}", rest / 3600))
            .replace("%M", &format!("{:02}", rest / 60 % 60))
            .replace("%S", &format!("{:02}", rest % 60))
    }

    const CLOCK: Clock = Clock {
        strftime: utc,
        thread_id: || 77,
    };

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
            &CLOCK,
            LogLevel::Info,
            Some("abc"),
            site(),
            "hello",
            (0, 123_456),
        );
        let pid = std::process::id();
        assert!(line.starts_with("[1970 "), "{line}");
        assert!(line.contains(".123] [abc] "), "{line}");
        assert!(line.contains(&format!("[{pid}:77]")), "{line}");
        assert!(
            line.ends_with("[info] map_uri::handler.rs (42): hello\n"),
            "{line}"
        );
        let in_dir = Site {
            file: "src/handler/mod.rs",
            ..site()
        };
        let line = format_line(&s, &CLOCK, LogLevel::Info, None, in_dir, "x", (0, 0));
        assert!(
            line.ends_with("[info] map_uri::handler.rs (42): x\n"),
            "{line}"
        );
        let micro = StampFormat::parse("%q|");
        let line = format_line(&micro, &CLOCK, LogLevel::Error, None, site(), "x", (0, 7));
        assert!(line.starts_with("000007|[NO-ID]"), "{line}");
    }

    #[test]
    fn long_and_hostile_messages_stay_one_line() {
        let s = StampFormat::parse("");
        let line = format_line(&s, &CLOCK, LogLevel::Warn, None, site(), "a\nb\rc", (0, 0));
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.contains("a?b?c"));
        let long = "é".repeat(5000);
        let line = format_line(&s, &CLOCK, LogLevel::Warn, None, site(), &long, (0, 0));
        assert!(line.len() <= MAX_LINE);
        assert!(line.ends_with("...\n"));
    }

    #[test]
    fn level_filter_and_concurrent_appends_keep_lines_whole() {
        let dir = std::env::temp_dir().join(format!("rjk-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jk.log");
        let p = path.to_str().unwrap().to_string();
        let log = std::sync::Arc::new(Logger::open_file(&p, LogLevel::Info, "", CLOCK).unwrap());
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
