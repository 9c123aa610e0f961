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

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mod_rjk::config::directives::{
    self, Args, DIRECTIVES, DirectiveCtx, DirectiveInfo, Scope, ServerConf, Support,
};
use mod_rjk::config::workers::{ATTRIBUTES, AjpParams, WorkerDef, WorkerKind, WorkersConfig};
use mod_rjk::endpoint;
use mod_rjk::mapping::{MatchKind, RuleExtensions, UriMap};

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
// Markdown reference tables (README.md holds their output; see apxs/gen-readme-tables.sh)
// ---------------------------------------------------------------------------------------

/// Text for a table cell: `|` would end the cell, `<` could open an HTML tag.
fn md_text(s: &str) -> String {
    s.replace('|', "\\|").replace('<', "&lt;")
}

fn md_code(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("`{}`", s.replace('|', "\\|"))
    }
}

fn markdown_directives() -> String {
    let mut out = String::from(
        "| Directive | Arguments | Default | Where | Status | Meaning |\n\
         |---|---|---|---|---|---|\n",
    );
    for d in &DIRECTIVES {
        let args = match d.args {
            Args::Take1 => "1",
            Args::Take12 => "1 or 2",
            Args::RawArgs => "rest of line",
            Args::Flag => "On \\| Off",
        };
        let default = if d.default.starts_with('(') {
            md_text(d.default)
        } else {
            md_code(d.default)
        };
        let scope = match d.scope {
            Scope::Global => "main server",
            Scope::Server => "main server, virtual host",
            Scope::ServerOrLocation => "main server, virtual host, `<Location>`",
        };
        let status = match d.support {
            Support::Implemented => "supported",
            Support::AcceptedIgnored => "accepted, no effect yet (startup warning)",
        };
        let help = d.help.to_str().unwrap_or("");
        let _ = writeln!(
            out,
            "| `{}` | {args} | {default} | {scope} | {status} | {} |",
            d.name(),
            md_text(help)
        );
    }
    out
}

fn markdown_workers() -> String {
    let mut out = String::from(
        "| Property | Worker types | Default | Unit | Status | Meaning |\n\
         |---|---|---|---|---|---|\n",
    );
    for a in ATTRIBUTES {
        let property = if a.is_global() {
            format!("`worker.{}`", a.name)
        } else {
            format!("`{}`", a.name)
        };
        let types = if a.is_global() {
            "global".to_string()
        } else if a.applies_to.is_empty() {
            "(removed types)".to_string()
        } else {
            a.applies_to.join(", ")
        };
        let (status, meaning) = match (a.deprecated_alias_of, a.supported) {
            (Some(of), _) => (
                format!("deprecated, use `{of}`"),
                format!("old name of `{of}`"),
            ),
            (None, false) => ("accepted, ignored (warning)".to_string(), md_text(a.doc)),
            (None, true) => ("supported".to_string(), md_text(a.doc)),
        };
        let _ = writeln!(
            out,
            "| {property} | {types} | {} | {} | {status} | {meaning} |",
            md_code(a.default),
            md_text(a.unit)
        );
    }
    out
}

// ---------------------------------------------------------------------------------------
// Reading httpd.conf
// ---------------------------------------------------------------------------------------

/// One server of the configuration: the main server or a `<VirtualHost>`.
struct Server {
    /// `main server` or `<VirtualHost *:80> at file:line`.
    label: String,
    server_name: Option<String>,
    conf: ServerConf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SectionKind {
    VirtualHost,
    /// `<Location>`, `<Directory>`, `<Files>` and their `Match` forms, `<Proxy>`: where
    /// httpd's cmd->path is set and only ACCESS_CONF directives are allowed.
    Dir,
    /// Conditional or transparent (`<IfModule>`, `<IfDefine>`, `<If>`, `<Limit>`, ...).
    Other,
}

struct Section {
    name: String,
    kind: SectionKind,
    /// False when a condition is false: everything inside is skipped.
    active: bool,
    path: Option<String>,
    file: String,
    line: usize,
}

/// Sections where httpd sets cmd->path (only ACCESS_CONF directives are allowed).
const DIR_SECTIONS: &[&str] = &[
    "Location",
    "LocationMatch",
    "Directory",
    "DirectoryMatch",
    "Files",
    "FilesMatch",
    "Proxy",
    "ProxyMatch",
];

/// Modules Debian's httpd has compiled in: `<IfModule>` on them holds without a LoadModule.
const BUILTIN_MODULES: &[&str] = &[
    "core",
    "so",
    "http_core",
    "watchdog",
    "version",
    "log_config",
    "logio",
    "unixd",
];

struct Reader<'a> {
    server_root: String,
    /// Where `server_root` came from, for the report.
    server_root_from: String,
    workers_override: Option<&'a str>,
    main: Server,
    vhosts: Vec<Server>,
    stack: Vec<Section>,
    defines: HashMap<String, String>,
    loaded: BTreeSet<String>,
    errors: Vec<String>,
    notes: Vec<String>,
    depth: usize,
    /// Whether the configuration loads jk_module anywhere (learnt by a first reading). If
    /// it does, `<IfModule jk_module>` holds only after that LoadModule, as in httpd;
    /// otherwise (a snippet checked on its own) the module counts as loaded throughout.
    jk_load_seen: bool,
    /// Where jk_module was loaded, with the file it was loaded from.
    jk_loaded: Option<(String, String)>,
    /// An error of JkWorkersFile/JkWorkerProperty: the workers are unknown, so the
    /// mount checks that need them are skipped.
    workers_failed: bool,
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// httpd's `ap_getword_conf`: whitespace-separated words; `"..."` and `'...'` group, and a
/// backslash before the quote character inside them escapes it.
fn conf_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut w = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '\\' && chars.peek() == Some(&first) {
                    w.push(first);
                    chars.next();
                } else if c == first {
                    break;
                } else {
                    w.push(c);
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        words.push(w);
    }
    words
}

/// Whole-name glob with `*` and `?`, for `Include` wildcards.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], name) || (!name.is_empty() && glob(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob(&pattern[1..], &name[1..]),
        _ => false,
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

/// Files an `Include` argument names: wildcards in any path component, directories read
/// recursively, everything sorted (as httpd does).
fn expand_include(path: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut prefixes = vec![PathBuf::from("/")];
    let comps: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    for comp in &comps {
        let mut next = Vec::new();
        for p in &prefixes {
            if has_wildcard(comp) {
                let mut names: Vec<String> = std::fs::read_dir(p)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.') && glob(comp.as_bytes(), n.as_bytes()))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| p.join(n)));
            } else {
                next.push(p.join(comp));
            }
        }
        prefixes = next;
    }
    for p in prefixes {
        collect_files(&p, &mut found);
    }
    found
}

fn collect_files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|e| {
                !e.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        entries.sort();
        for e in entries {
            collect_files(&e, out);
        }
    } else if p.is_file() {
        out.push(p.to_path_buf());
    }
}

impl<'a> Reader<'a> {
    fn new(
        server_root: String,
        server_root_from: String,
        workers_override: Option<&'a str>,
    ) -> Self {
        Reader {
            server_root,
            server_root_from,
            workers_override,
            main: Server {
                label: "main server".into(),
                server_name: None,
                conf: ServerConf::new(false),
            },
            vhosts: Vec::new(),
            stack: Vec::new(),
            defines: HashMap::new(),
            loaded: BUILTIN_MODULES.iter().map(|s| s.to_string()).collect(),
            errors: Vec::new(),
            notes: Vec::new(),
            depth: 0,
            jk_load_seen: false,
            jk_loaded: None,
            workers_failed: false,
        }
    }

    fn jk_is_loaded(&self) -> bool {
        !self.jk_load_seen || self.jk_loaded.is_some()
    }

    fn active(&self) -> bool {
        self.stack.iter().all(|s| s.active)
    }

    fn in_vhost(&self) -> bool {
        self.stack
            .iter()
            .any(|s| s.kind == SectionKind::VirtualHost)
    }

    fn location(&self) -> Option<&str> {
        self.stack
            .iter()
            .rev()
            .find(|s| s.kind == SectionKind::Dir)
            .and_then(|s| s.path.as_deref())
    }

    /// The innermost `<Location>`-like section, spelt as httpd names it in messages.
    fn dir_section(&self) -> Option<&'static str> {
        let s = self
            .stack
            .iter()
            .rev()
            .find(|s| s.kind == SectionKind::Dir)?;
        DIR_SECTIONS
            .iter()
            .find(|n| n.eq_ignore_ascii_case(&s.name))
            .copied()
    }

    fn current(&mut self) -> &mut Server {
        if self.in_vhost() {
            if let Some(v) = self.vhosts.last_mut() {
                return v;
            }
        }
        &mut self.main
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            Path::new(&self.server_root).join(p)
        }
    }

    /// `${VAR}` from `Define` or the environment; unknown ones stay as written (httpd warns).
    fn substitute(
        &self,
        line: &str,
        file: &str,
        line_no: usize,
        notes: &mut Vec<String>,
    ) -> String {
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start + 2..].find('}') else {
                break;
            };
            let name = &rest[start + 2..start + 2 + len];
            out.push_str(&rest[..start]);
            match self
                .defines
                .get(name)
                .cloned()
                .or_else(|| process_env(name))
            {
                Some(v) => out.push_str(&v),
                None => {
                    notes.push(format!(
                        "{file}:{line_no}: ${{{name}}} is not defined (httpd would keep it literally)"
                    ));
                    out.push_str(&rest[start..start + 3 + len]);
                }
            }
            rest = &rest[start + 3 + len..];
        }
        out.push_str(rest);
        out
    }

    fn read_file(&mut self, path: &Path) {
        let file = path.to_string_lossy().into_owned();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.errors
                    .push(format!("{file}: cannot read the configuration file: {e}"));
                return;
            }
        };
        let depth_at_start = self.stack.len();
        let mut lines = text.lines().enumerate();
        while let Some((i, raw)) = lines.next() {
            let line_no = i + 1;
            // A trailing backslash continues the directive on the next line.
            let mut logical = raw.to_string();
            while logical.ends_with('\\') {
                logical.pop();
                match lines.next() {
                    Some((_, more)) => logical.push_str(more),
                    None => break,
                }
            }
            let trimmed = logical.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let mut notes = Vec::new();
            let line = self.substitute(trimmed, &file, line_no, &mut notes);
            // Only where the value matters here (Debian's ${APACHE_LOG_DIR} and the like
            // come from envvars and concern other directives).
            let first = trimmed.split_whitespace().next().unwrap_or("");
            let relevant = first.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("jk"))
                || [
                    "include",
                    "includeoptional",
                    "serverroot",
                    "<virtualhost",
                    "<location",
                ]
                .iter()
                .any(|d| first.eq_ignore_ascii_case(d));
            if self.active() && relevant {
                self.notes.extend(notes);
            }
            self.line(&line, &file, line_no);
        }
        while self.stack.len() > depth_at_start {
            let s = self.stack.pop().expect("stack is deeper than at the start");
            self.errors.push(format!(
                "{}:{}: <{}> is not closed before the end of {file}",
                s.file, s.line, s.name
            ));
        }
    }

    fn line(&mut self, line: &str, file: &str, line_no: usize) {
        if let Some(close) = line.strip_prefix("</") {
            let name = close.trim_end_matches('>').trim();
            match self.stack.last() {
                Some(top) if top.name.eq_ignore_ascii_case(name) => {
                    self.stack.pop();
                }
                Some(top) => self.errors.push(format!(
                    "{file}:{line_no}: </{name}> closes <{}> opened at {}:{}",
                    top.name, top.file, top.line
                )),
                None => self.errors.push(format!(
                    "{file}:{line_no}: </{name}> without a matching <{name}>"
                )),
            }
            return;
        }
        if let Some(open) = line.strip_prefix('<') {
            let open = open.trim_end().strip_suffix('>').unwrap_or(open).trim();
            let (name, arg) = open
                .split_once(char::is_whitespace)
                .map_or((open, ""), |(n, a)| (n, a.trim()));
            self.open_section(name, arg, file, line_no);
            return;
        }
        if !self.active() {
            return;
        }
        let (name, rest) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(n, r)| (n, r.trim()));
        if let Some(info) = directives::find(name) {
            self.jk_directive(info, rest, file, line_no);
            return;
        }
        if name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("jk")) {
            self.errors.push(unknown_directive(name, file, line_no));
            return;
        }
        let words = conf_words(rest);
        let first = words.first().cloned().unwrap_or_default();
        match name.to_ascii_lowercase().as_str() {
            // httpd's core `Error` directive: a configuration that reaches it fails.
            "error" => self
                .errors
                .push(format!("{file}:{line_no}: {}", words.join(" "))),
            "serverroot" => {
                self.server_root = first.trim_end_matches('/').to_string();
                self.server_root_from = format!("ServerRoot at {file}:{line_no}");
            }
            "servername" if !first.is_empty() => self.current().server_name = Some(first),
            "define" if !first.is_empty() => {
                let v = words.get(1).cloned().unwrap_or_default();
                self.defines.insert(first, v);
            }
            "undefine" => {
                self.defines.remove(&first);
            }
            "loadmodule" => self.load_module(&words, file, line_no),
            "include" | "includeoptional" => {
                let optional = name.eq_ignore_ascii_case("includeoptional");
                self.include(&first, optional, file, line_no);
            }
            _ => {}
        }
    }

    fn load_module(&mut self, words: &[String], file: &str, line_no: usize) {
        let first = words.first().map_or("", String::as_str);
        let m = first.strip_suffix("_module").unwrap_or(first).to_string();
        self.loaded.insert(m);
        if first != "jk_module" {
            return;
        }
        let from = words.get(1).cloned().unwrap_or_default();
        let at = format!("{file}:{line_no}");
        if let Some((prev_at, prev_from)) = &self.jk_loaded {
            // httpd: "AH01574: module jk_module is already loaded, skipping".
            self.notes.push(format!(
                "{at}: module jk_module is already loaded (from {prev_from} at {prev_at}), skipping: \
                 httpd ignores this LoadModule of {from}; mod_jk and mod_rjk are both jk_module, \
                 load only one (on Debian: a2dismod jk)"
            ));
            return;
        }
        if !from.ends_with("mod_rjk.so") {
            self.notes.push(format!(
                "{at}: jk_module is loaded from {from}, which is not mod_rjk.so; this check shows what mod_rjk would do"
            ));
        }
        self.jk_loaded = Some((at, from));
    }

    fn include(&mut self, arg: &str, optional: bool, file: &str, line_no: usize) {
        if self.depth >= 64 {
            self.errors.push(format!(
                "{file}:{line_no}: Include nested more than 64 levels deep (a loop?)"
            ));
            return;
        }
        let path = self.resolve(arg);
        let files = expand_include(&path);
        if files.is_empty() {
            if !optional {
                self.errors.push(format!(
                    "{file}:{line_no}: Include {arg}: no such file ({})",
                    path.display()
                ));
            }
            return;
        }
        self.depth += 1;
        for f in files {
            self.read_file(&f);
        }
        self.depth -= 1;
    }

    fn open_section(&mut self, name: &str, arg: &str, file: &str, line_no: usize) {
        let words = conf_words(arg);
        let first = words.first().cloned().unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        let parent_active = self.active();
        let (kind, active, path) = match lower.as_str() {
            "virtualhost" => (SectionKind::VirtualHost, true, None),
            _ if DIR_SECTIONS.iter().any(|n| n.eq_ignore_ascii_case(name)) => {
                (SectionKind::Dir, true, Some(first))
            }
            "ifmodule" => {
                let (neg, m) = match first.strip_prefix('!') {
                    Some(m) => (true, m),
                    None => (false, first.as_str()),
                };
                let m = m
                    .strip_suffix("_module")
                    .or_else(|| m.strip_prefix("mod_").and_then(|m| m.strip_suffix(".c")))
                    .unwrap_or(m);
                // The configuration is checked as mod_rjk (registered as jk_module /
                // mod_jk.c) would see it: loaded.
                let loaded = if m == "jk" {
                    self.jk_is_loaded()
                } else {
                    self.loaded.contains(m)
                };
                (SectionKind::Other, loaded != neg, None)
            }
            "ifdefine" => {
                let (neg, d) = match first.strip_prefix('!') {
                    Some(d) => (true, d),
                    None => (false, first.as_str()),
                };
                (
                    SectionKind::Other,
                    self.defines.contains_key(d) != neg,
                    None,
                )
            }
            "iffile" => {
                let (neg, f) = match first.strip_prefix('!') {
                    Some(f) => (true, f),
                    None => (false, first.as_str()),
                };
                (SectionKind::Other, self.resolve(f).exists() != neg, None)
            }
            // Bodies that are not configuration of this server as written.
            "macro" => (SectionKind::Other, false, None),
            _ => (SectionKind::Other, true, None),
        };
        if kind == SectionKind::VirtualHost && parent_active {
            if self.in_vhost() {
                self.errors.push(format!(
                    "{file}:{line_no}: <VirtualHost> cannot be nested in another <VirtualHost>"
                ));
            }
            self.vhosts.push(Server {
                label: format!("<VirtualHost {}> at {file}:{line_no}", arg.trim()),
                server_name: None,
                conf: ServerConf::new(true),
            });
        }
        self.stack.push(Section {
            name: name.to_string(),
            kind,
            active,
            path,
            file: file.to_string(),
            line: line_no,
        });
    }

    fn jk_directive(
        &mut self,
        info: &'static DirectiveInfo,
        rest: &str,
        file: &str,
        line_no: usize,
    ) {
        let at = format!("{file}:{line_no}");
        if info.scope != Scope::ServerOrLocation {
            if let Some(section) = self.dir_section() {
                self.errors.push(format!(
                    "{at}: {} not allowed in <{section}> context",
                    info.name()
                ));
                return;
            }
        }
        // The argument shapes httpd checks before it calls the module.
        let help = info.help.to_str().unwrap_or("");
        let raw;
        let words = conf_words(rest);
        let args: Vec<&str> = match info.args {
            Args::RawArgs => {
                raw = rest.trim().to_string();
                vec![raw.as_str()]
            }
            Args::Take1 if words.len() != 1 => {
                self.errors
                    .push(format!("{at}: {} takes one argument, {help}", info.name()));
                return;
            }
            Args::Take12 if words.is_empty() || words.len() > 2 => {
                self.errors
                    .push(format!("{at}: {} takes 1-2 arguments, {help}", info.name()));
                return;
            }
            Args::Flag => match words.as_slice() {
                [w] if w.eq_ignore_ascii_case("on") => vec!["On"],
                [w] if w.eq_ignore_ascii_case("off") => vec!["Off"],
                _ => {
                    self.errors
                        .push(format!("{at}: {} must be On or Off", info.name()));
                    return;
                }
            },
            _ => words.iter().map(String::as_str).collect(),
        };
        if info.directive == directives::Directive::WorkersFile && self.workers_override.is_some() {
            self.notes.push(format!(
                "{at}: JkWorkersFile {} replaced by --workers",
                args.first().copied().unwrap_or("")
            ));
            return;
        }
        let location = self.location().map(str::to_string);
        let in_vhost = self.in_vhost();
        let server_root = self.server_root.clone();
        let ctx = DirectiveCtx {
            file,
            line: line_no,
            location: location.as_deref(),
            in_vhost,
            server_root: server_root.trim_end_matches('/'),
            env: &process_env,
        };
        if let Err(e) = self.current().conf.apply(info, &args, &ctx) {
            self.errors.push(format!("{at}: {e}"));
            if matches!(
                info.directive,
                directives::Directive::WorkersFile | directives::Directive::WorkerProperty
            ) {
                self.workers_failed = true;
            }
        }
    }

    /// `--workers FILE`: a `JkWorkersFile FILE` line of the main server.
    fn apply_workers_override(&mut self) {
        let Some(path) = self.workers_override else {
            return;
        };
        let info = directives::find("JkWorkersFile").expect("JkWorkersFile is in the table");
        let server_root = self.server_root.clone();
        let ctx = DirectiveCtx {
            file: "--workers",
            line: 0,
            location: None,
            in_vhost: false,
            server_root: server_root.trim_end_matches('/'),
            env: &process_env,
        };
        if let Err(e) = self.main.conf.apply(info, &[path], &ctx) {
            self.errors.push(e);
            self.workers_failed = true;
        }
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
        .filter_map(|d| Some((d, endpoint::unix_path(&d.ajp()?.host)?)))
        .filter_map(|(d, path)| {
            let finding = match endpoint::inspect_socket(path) {
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

fn report(r: &Reader, v: &Verdict, with_map: bool) -> String {
    let mut report = String::new();
    let _ = writeln!(
        report,
        "rjk-check {} (the parsers of mod_rjk {})",
        mod_rjk::VERSION,
        mod_rjk::VERSION
    );
    let _ = writeln!(
        report,
        "ServerRoot: {} (from {})",
        r.server_root, r.server_root_from
    );
    if let Some(f) = &r.main.conf.workers_file {
        let _ = writeln!(report, "JkWorkersFile: {f}");
    }
    report.push('\n');
    if let Some(w) = &v.workers {
        print_workers(&mut report, w);
    }
    if with_map {
        let main_has_rules = !r.main.conf.uri_map.is_empty();
        for s in std::iter::once(&r.main).chain(v.merged.iter()) {
            report.push('\n');
            print_map(&mut report, s, main_has_rules);
        }
    } else {
        report.push_str("\n(no --httpd-conf given: no URI map)\n");
    }
    if !v.warnings.is_empty() {
        let _ = writeln!(report, "\nWarnings ({}):", v.warnings.len());
        for w in &v.warnings {
            let _ = writeln!(report, "  {w}");
        }
    }
    let _ = writeln!(report, "\nConfiguration OK");
    report
}

/// httpd's words for a directive no loaded module defines, with the closest Jk directive.
fn unknown_directive(name: &str, file: &str, line_no: usize) -> String {
    let hint = DIRECTIVES
        .iter()
        .map(|d| {
            (
                edit_distance(&name.to_ascii_lowercase(), &d.name().to_ascii_lowercase()),
                d,
            )
        })
        .filter(|(dist, _)| *dist <= 3)
        .min_by_key(|(dist, _)| *dist)
        .map_or(String::new(), |(_, d)| {
            format!(" (did you mean {}?)", d.name())
        });
    format!(
        "{file}:{line_no}: Invalid command '{name}', perhaps misspelled or defined by a module \
         not included in the server configuration{hint}"
    )
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn absolute(p: &str, cwd: &str) -> String {
    if Path::new(p).is_absolute() {
        p.to_string()
    } else {
        Path::new(cwd).join(p).to_string_lossy().into_owned()
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn print_workers(out: &mut String, w: &WorkersConfig) {
    let _ = writeln!(out, "Workers (worker.list: {}):", w.list.join(", "));
    // Listed workers in worker.list order, then the lb members that are not listed.
    let mut order: Vec<&WorkerDef> = w.list.iter().filter_map(|n| w.get(n)).collect();
    for def in w.workers.values() {
        if !w.list.contains(&def.name) {
            order.push(def);
        }
    }
    let member_of = |name: &str| -> Vec<&str> {
        w.workers
            .values()
            .filter(|d| {
                d.lb()
                    .is_some_and(|lb| lb.balance_workers.iter().any(|m| m == name))
            })
            .map(|d| d.name.as_str())
            .collect()
    };
    let width = order.iter().map(|d| d.name.len()).max().unwrap_or(0);
    for def in order {
        let listed = if w.list.contains(&def.name) {
            "listed".to_string()
        } else {
            format!("member of {}", member_of(&def.name).join(", "))
        };
        let head = match &def.kind {
            WorkerKind::Ajp13(p) => format!("ajp13   {}", endpoint::address(&p.host, p.port)),
            WorkerKind::Lb(_) => "lb    ".to_string(),
            WorkerKind::Status(_) => "status".to_string(),
        };
        let _ = writeln!(
            out,
            "  {:width$}  {head}  ({listed}; defined at {})",
            def.name, def.origin
        );
        match &def.kind {
            WorkerKind::Ajp13(p) => {
                let _ = writeln!(out, "      {}", ajp_settings(p));
                if !member_of(&def.name).is_empty() {
                    let _ = writeln!(
                        out,
                        "      lbfactor={} route={} activation={:?} distance={}{}{}",
                        p.lbfactor,
                        p.route,
                        p.activation,
                        p.distance,
                        if p.redirect.is_empty() {
                            String::new()
                        } else {
                            format!(" redirect={}", p.redirect)
                        },
                        if p.domain.is_empty() {
                            String::new()
                        } else {
                            format!(" domain={}", p.domain)
                        },
                    );
                }
            }
            WorkerKind::Lb(lb) => {
                let members: Vec<String> = lb
                    .balance_workers
                    .iter()
                    .map(|m| match w.get(m).and_then(WorkerDef::ajp) {
                        Some(p) => format!(
                            "{m} ({}, lbfactor {}, route {}, {:?})",
                            endpoint::address(&p.host, p.port),
                            p.lbfactor,
                            p.route,
                            p.activation
                        ),
                        None => m.clone(),
                    })
                    .collect();
                let _ = writeln!(out, "      members: {}", members.join(", "));
                let _ = writeln!(
                    out,
                    "      sticky_session={} sticky_session_force={} method={} lock={} retries={} lb_retries={} recover_time={}s session_cookie={} session_path={}",
                    yes_no(lb.sticky_session),
                    yes_no(lb.sticky_session_force),
                    lb.method.as_str(),
                    lb.lock.as_str(),
                    lb.retries,
                    lb.lb_retries,
                    lb.recover_time_secs,
                    lb.session_cookie,
                    lb.session_path
                );
            }
            WorkerKind::Status(s) => {
                let users = if s.user.is_empty() {
                    "(anyone httpd lets in)".to_string()
                } else {
                    s.user.join(",")
                };
                let _ = writeln!(out, "      read_only={} user={users}", yes_no(s.read_only));
            }
        }
        if !def.mount.is_empty() {
            let _ = writeln!(out, "      mount={}", def.mount.join(","));
        }
    }
}

fn ajp_settings(p: &AjpParams) -> String {
    let pool = p
        .connection_pool_size
        .map_or("ThreadsPerChild".to_string(), |n| n.to_string());
    let ping = p.ping_mode.as_letters();
    format!(
        "secret={} max_packet_size={} connection_pool_size={pool} connection_pool_timeout={}s socket_connect_timeout={}ms reply_timeout={}ms ping_mode={} retries={} recovery_options={}",
        if p.secret.is_some() {
            "(set)"
        } else {
            "(none)"
        },
        p.max_packet_size,
        p.connection_pool_timeout_secs,
        p.socket_connect_timeout_ms,
        p.reply_timeout_ms,
        if ping.is_empty() { "-" } else { &ping },
        p.retries,
        p.recovery_options
    )
}

fn extensions_text(e: &RuleExtensions) -> String {
    e.to_string()
}

fn print_map(out: &mut String, s: &Server, main_has_rules: bool) {
    let name = s
        .server_name
        .as_deref()
        .map_or(String::new(), |n| format!(" (ServerName {n})"));
    let _ = writeln!(out, "URI map of the {}{name}:", s.label);
    if let Some(f) = &s.conf.mount_file {
        let _ = writeln!(
            out,
            "  JkMountFile {f} (checked for changes every {}s)",
            s.conf.mount_file_reload.unwrap_or(60)
        );
    }
    let map: &UriMap = &s.conf.uri_map;
    if map.is_empty() {
        let hint = if s.conf.is_vhost && main_has_rules {
            "; the main server's JkMounts apply here only with JkMountCopy On (or JkMountCopy All in the main server)"
        } else {
            ""
        };
        let _ = writeln!(out, "  (no rules: httpd serves every request itself{hint})");
        return;
    }
    let rows: Vec<[String; 4]> = map
        .rules()
        .map(|rule| {
            let mut worker = rule.worker().to_string();
            let ext = extensions_text(rule.extensions());
            if !ext.is_empty() {
                worker = format!("{worker};{ext}");
            }
            let mut kind = match rule.kind() {
                MatchKind::Exact => "exact",
                MatchKind::Wildchar => "wildchar",
            }
            .to_string();
            if rule.is_exclusion() {
                kind.push_str(" unmount");
            }
            if rule.is_disabled() {
                kind.push_str(" disabled");
            }
            [
                rule.display_pattern(),
                worker,
                kind,
                rule.source().as_str().to_string(),
            ]
        })
        .collect();
    let header = ["pattern", "worker", "match", "source"].map(str::to_string);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.len());
        }
    }
    for row in std::iter::once(&header).chain(rows.iter()) {
        let _ = writeln!(
            out,
            "  {:w0$}  {:w1$}  {:w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
}

#[cfg(test)]
mod tests {
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
