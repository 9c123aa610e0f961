//! rjk-check: checks a mod_rjk (or mod_jk) configuration without starting httpd, with the
//! module's own parsers, and prints what the module would make of it.
//!
//! ```text
//! rjk-check [--server-root DIR] [--workers FILE] [--httpd-conf FILE]
//! rjk-check --markdown-directives | --markdown-workers
//! ```
//!
//! With `--httpd-conf`, only the `Jk*` directives are read (plus `ServerRoot`,
//! `ServerName`, `Define`, `LoadModule`, `Include[Optional]` and the sections that decide
//! where a directive applies: `<VirtualHost>`, `<Location>` and friends, `<IfModule>`,
//! `<IfDefine>`). Each `Jk*` directive goes through `ServerConf::apply` exactly as the
//! module's directive handler does it, vhosts are merged with `ServerConf::merge` and the
//! main server is finished with `ServerConf::finish_main`, as httpd's check_config does.
//! `--workers FILE` stands for a `JkWorkersFile FILE` line (and replaces the one of
//! the httpd.conf, if any).
//!
//! Prints the effective workers and every server's URI map and exits 0, or prints every
//! error with file:line to stderr and exits 1 (2 for a usage error).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mod_rjk::config::directives::ServerConf;
use mod_rjk::config::workers::WorkersConfig;

mod conf;
mod markdown;
mod report;

use conf::{Reader, Server, conf_words, process_env};
use markdown::{markdown_directives, markdown_workers};
use report::report;

const USAGE: &str = "\
usage: rjk-check [--server-root DIR] [--workers FILE] [--httpd-conf FILE]
       rjk-check --markdown-directives | --markdown-workers

  --httpd-conf FILE   read the Jk* directives of this httpd configuration (Include is followed)
  --workers FILE      the workers.properties to check (as JkWorkersFile FILE; it replaces
                      a JkWorkersFile of the httpd.conf)
  --server-root DIR   httpd's ServerRoot for relative paths; like `apache2 -d`, a ServerRoot
                      directive of the httpd.conf wins (default: the directory of the
                      httpd.conf, else the current directory)
  --markdown-directives, --markdown-workers
                      print the reference table of the Jk* directives / worker properties
                      that the module's own tables define";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match Opts::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("rjk-check: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match opts.mode {
        Mode::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Mode::MarkdownDirectives => {
            print!("{}", markdown_directives());
            ExitCode::SUCCESS
        }
        Mode::MarkdownWorkers => {
            print!("{}", markdown_workers());
            ExitCode::SUCCESS
        }
        Mode::Check => check(&opts),
    }
}

// ---------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
enum Mode {
    Check,
    MarkdownDirectives,
    MarkdownWorkers,
    Help,
}

#[derive(Debug)]
struct Opts {
    mode: Mode,
    server_root: Option<String>,
    workers: Option<String>,
    httpd_conf: Option<String>,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut o = Opts {
            mode: Mode::Check,
            server_root: None,
            workers: None,
            httpd_conf: None,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag {
                "--server-root" | "-d" => o.server_root = Some(value()?),
                "--workers" | "-w" => o.workers = Some(value()?),
                "--httpd-conf" | "-f" => o.httpd_conf = Some(value()?),
                "--markdown-directives" => o.set_mode(Mode::MarkdownDirectives)?,
                "--markdown-workers" => o.set_mode(Mode::MarkdownWorkers)?,
                "-h" | "--help" => o.mode = Mode::Help,
                other => return Err(format!("unknown argument '{other}'")),
            }
        }
        if o.mode == Mode::Check && o.workers.is_none() && o.httpd_conf.is_none() {
            return Err("nothing to check: give --httpd-conf and/or --workers".into());
        }
        Ok(o)
    }

    fn set_mode(&mut self, m: Mode) -> Result<(), String> {
        if self.mode != Mode::Check {
            return Err("--markdown-directives and --markdown-workers exclude each other".into());
        }
        self.mode = m;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------

fn check(opts: &Opts) -> ExitCode {
    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| ".".into());
    let (server_root, from) = match (&opts.server_root, &opts.httpd_conf) {
        (Some(d), _) => (d.clone(), "--server-root".to_string()),
        (None, Some(f)) => {
            let dir = Path::new(f)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or(cwd.clone(), |p| p.to_string_lossy().into_owned());
            (dir, "the directory of the httpd.conf".to_string())
        }
        (None, None) => (cwd.clone(), "the current directory".to_string()),
    };
    let server_root = absolute(&server_root, &cwd);
    // httpd resolves a relative `-f FILE` against the ServerRoot of `-d`.
    let conf = opts.httpd_conf.as_ref().map(|c| match &opts.server_root {
        Some(_) => PathBuf::from(absolute(c, &server_root)),
        None => PathBuf::from(absolute(c, &cwd)),
    });
    let read = |jk_load_seen: bool| {
        let mut r = Reader::new(server_root.clone(), from.clone(), opts.workers.as_deref());
        r.jk_load_seen = jk_load_seen;
        match &conf {
            Some(conf) => {
                read_server_root(&mut r, conf);
                r.apply_workers_override();
                r.read_file(conf);
            }
            None => r.apply_workers_override(),
        }
        r
    };
    // A first reading learns whether jk_module is loaded at all (see `jk_load_seen`).
    let seen = conf.is_some() && read(false).jk_loaded.is_some();
    let mut r = read(seen);
    if seen && r.jk_loaded.is_none() {
        r.notes.push(
            "no LoadModule jk_module is reached: httpd would not load the module, and \
             <IfModule jk_module> sections are skipped"
                .to_string(),
        );
    }
    let verdict = Verdict::of(&mut r);
    if !verdict.errors.is_empty() {
        eprintln!(
            "rjk-check: {} error(s); httpd would refuse to start (apachectl -t fails):",
            verdict.errors.len()
        );
        for e in &verdict.errors {
            eprintln!("{e}");
        }
        return ExitCode::from(1);
    }
    print!("{}", report(&r, &verdict, opts.httpd_conf.is_some()));
    ExitCode::SUCCESS
}

/// httpd reads ServerRoot before anything else: a first look for it, so that the
/// --workers file resolves against it too.
fn read_server_root(r: &mut Reader, conf: &Path) {
    if let Ok(text) = std::fs::read_to_string(conf) {
        for (i, l) in text.lines().enumerate() {
            let w = conf_words(l);
            if w.len() == 2 && w[0].eq_ignore_ascii_case("ServerRoot") {
                r.server_root = w[1].trim_end_matches('/').to_string();
                r.server_root_from = format!("ServerRoot at {}:{}", conf.display(), i + 1);
            }
        }
    }
}

/// Everything httpd's configuration phase would say: every error (httpd stops at the
/// first), the warnings, and the servers as merged.
struct Verdict {
    errors: Vec<String>,
    warnings: Vec<String>,
    merged: Vec<Server>,
    workers: Option<std::sync::Arc<WorkersConfig>>,
}

impl Verdict {
    fn of(r: &mut Reader) -> Verdict {
        let mut errors = std::mem::take(&mut r.errors);
        let mut warnings: Vec<String> = std::mem::take(&mut r.notes);
        warnings.extend(r.main.conf.warnings.iter().cloned());
        // httpd merges every vhost with the main server (AP_MODULE_FLAG_ALWAYS_MERGE),
        // then runs check_config, which finishes the main server's workers.
        let merged: Vec<Server> = r
            .vhosts
            .iter()
            .map(|v| {
                warnings.extend(v.conf.warnings.iter().cloned());
                Server {
                    label: v.label.clone(),
                    server_name: v.server_name.clone(),
                    conf: ServerConf::merge(&r.main.conf, &v.conf),
                }
            })
            .collect();
        let mut workers = None;
        if !r.workers_failed {
            let root = r.server_root.clone();
            match r
                .main
                .conf
                .finish_main(root.trim_end_matches('/'), &process_env)
            {
                Ok(()) => workers = r.main.conf.workers.clone(),
                Err(e) => errors.push(e),
            }
        }
        if let Some(w) = &workers {
            warnings.extend(w.warnings.iter().cloned());
            warnings.extend(missing_secrets(w));
            warnings.extend(unix_sockets(w));
            // check_config: every mapping rule must name a worker of worker.list.
            for s in std::iter::once(&r.main).chain(merged.iter()) {
                errors.extend(s.conf.mount_errors(w, &format!("the {}", s.label)));
            }
        }
        Verdict {
            errors,
            warnings,
            merged,
            workers,
        }
    }
}

/// An ajp13 worker without a secret is refused by Tomcat 9.0.31+ and 10 (secretRequired).
fn missing_secrets(w: &WorkersConfig) -> Vec<String> {
    w.workers
        .values()
        .filter(|d| d.ajp().is_some_and(|p| p.secret.is_none()))
        .map(|d| {
            format!(
                "worker {} (defined at {}) is an ajp13 worker without a secret: Tomcat 9.0.31+ \
                 and 10 answer 403 to it unless its AJP connector sets secretRequired=\"false\"; \
                 set worker.{}.secret (or the secret of its lb) to the connector's secret",
                d.name, d.origin, d.name
            )
        })
        .collect()
}

/// What the socket of each `host=unix:/path` worker looks like now: missing, not a socket,
/// or closed to the httpd child user. Warnings only: Tomcat may simply not run yet.
fn unix_sockets(w: &WorkersConfig) -> Vec<String> {
    w.workers
        .values()
        .filter_map(|d| Some((d, mod_rjk::endpoint::unix_path(&d.ajp()?.host)?)))
        .filter_map(|(d, path)| {
            let finding = match mod_rjk::endpoint::inspect_socket(path) {
                Ok(None) => return None,
                Ok(Some(w)) | Err(w) => w,
            };
            Some(format!(
                "worker {} (defined at {}): {finding}",
                d.name, d.origin
            ))
        })
        .collect()
}

fn absolute(p: &str, cwd: &str) -> String {
    if Path::new(p).is_absolute() {
        p.to_string()
    } else {
        Path::new(cwd).join(p).to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use mod_rjk::config::directives::DIRECTIVES;
    use mod_rjk::config::workers::ATTRIBUTES;

    use super::conf::glob;
    use super::*;

    #[test]
    fn words_follow_httpd_quoting() {
        assert_eq!(
            conf_words(r#"/a "b c" 'd\'e' f"#),
            ["/a", "b c", "d'e", "f"]
        );
        assert_eq!(conf_words("  "), Vec::<String>::new());
    }

    #[test]
    fn include_globs() {
        assert!(glob(b"*.conf", b"jk.conf"));
        assert!(!glob(b"*.conf", b"jk.load"));
        assert!(glob(b"a?c*", b"abcdef"));
    }

    #[test]
    fn markdown_tables_have_a_row_per_entry() {
        assert_eq!(markdown_directives().lines().count(), DIRECTIVES.len() + 2);
        assert_eq!(markdown_workers().lines().count(), ATTRIBUTES.len() + 2);
        for l in markdown_workers()
            .lines()
            .chain(markdown_directives().lines())
        {
            // Six columns: seven unescaped pipes.
            let pipes = l.replace("\\|", "").matches('|').count();
            assert_eq!(pipes, 7, "{l}");
        }
    }
}
