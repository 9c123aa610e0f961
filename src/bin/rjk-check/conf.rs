//! Reading httpd.conf: the `Jk*` directives and the sections and includes that decide
//! where they apply.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use mod_rjk::config::directives::{
    self, Args, DIRECTIVES, DirectiveCtx, DirectiveInfo, Scope, ServerConf,
};

/// One server of the configuration: the main server or a `<VirtualHost>`.
pub(crate) struct Server {
    /// `main server` or `<VirtualHost *:80> at file:line`.
    pub(crate) label: String,
    pub(crate) server_name: Option<String>,
    pub(crate) conf: ServerConf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SectionKind {
    VirtualHost,
    /// `<Location>`, `<Directory>`, `<Files>` and their `Match` forms, `<Proxy>`: where
    /// httpd's cmd->path is set and only ACCESS_CONF directives are allowed.
    Dir,
    /// Conditional or transparent (`<IfModule>`, `<IfDefine>`, `<If>`, `<Limit>`, ...).
    Other,
}

pub(crate) struct Section {
    pub(crate) name: String,
    pub(crate) kind: SectionKind,
    /// False when a condition is false: everything inside is skipped.
    pub(crate) active: bool,
    pub(crate) path: Option<String>,
    pub(crate) file: String,
    pub(crate) line: usize,
}

/// Sections where httpd sets cmd->path (only ACCESS_CONF directives are allowed).
pub(crate) const DIR_SECTIONS: &[&str] = &[
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
pub(crate) const BUILTIN_MODULES: &[&str] = &[
    "core",
    "so",
    "http_core",
    "watchdog",
    "version",
    "log_config",
    "logio",
    "unixd",
];

pub(crate) struct Reader<'a> {
    pub(crate) server_root: String,
    /// Where `server_root` came from, for the report.
    pub(crate) server_root_from: String,
    pub(crate) workers_override: Option<&'a str>,
    pub(crate) main: Server,
    pub(crate) vhosts: Vec<Server>,
    pub(crate) stack: Vec<Section>,
    pub(crate) defines: HashMap<String, String>,
    pub(crate) loaded: BTreeSet<String>,
    pub(crate) errors: Vec<String>,
    pub(crate) notes: Vec<String>,
    pub(crate) depth: usize,
    /// Whether the configuration loads jk_module anywhere (learnt by a first reading). If
    /// it does, `<IfModule jk_module>` holds only after that LoadModule, as in httpd;
    /// otherwise (a snippet checked on its own) the module counts as loaded throughout.
    pub(crate) jk_load_seen: bool,
    /// Where jk_module was loaded, with the file it was loaded from.
    pub(crate) jk_loaded: Option<(String, String)>,
    /// An error of JkWorkersFile/JkWorkerProperty: the workers are unknown, so the
    /// mount checks that need them are skipped.
    pub(crate) workers_failed: bool,
}

pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// httpd's `ap_getword_conf`: whitespace-separated words; `"..."` and `'...'` group, and a
/// backslash before the quote character inside them escapes it.
pub(crate) fn conf_words(line: &str) -> Vec<String> {
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
pub(crate) fn glob(pattern: &[u8], name: &[u8]) -> bool {
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

pub(crate) fn has_wildcard(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

/// Files an `Include` argument names: wildcards in any path component, directories read
/// recursively, everything sorted (as httpd does).
pub(crate) fn expand_include(path: &Path) -> Vec<PathBuf> {
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

pub(crate) fn collect_files(p: &Path, out: &mut Vec<PathBuf>) {
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
    pub(crate) fn new(
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

    pub(crate) fn jk_is_loaded(&self) -> bool {
        !self.jk_load_seen || self.jk_loaded.is_some()
    }

    pub(crate) fn active(&self) -> bool {
        self.stack.iter().all(|s| s.active)
    }

    pub(crate) fn in_vhost(&self) -> bool {
        self.stack
            .iter()
            .any(|s| s.kind == SectionKind::VirtualHost)
    }

    pub(crate) fn location(&self) -> Option<&str> {
        self.stack
            .iter()
            .rev()
            .find(|s| s.kind == SectionKind::Dir)
            .and_then(|s| s.path.as_deref())
    }

    /// The innermost `<Location>`-like section, spelt as httpd names it in messages.
    pub(crate) fn dir_section(&self) -> Option<&'static str> {
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

    pub(crate) fn current(&mut self) -> &mut Server {
        if self.in_vhost() {
            if let Some(v) = self.vhosts.last_mut() {
                return v;
            }
        }
        &mut self.main
    }

    pub(crate) fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            Path::new(&self.server_root).join(p)
        }
    }

    /// `${VAR}` from `Define` or the environment; unknown ones stay as written (httpd warns).
    pub(crate) fn substitute(
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

    pub(crate) fn read_file(&mut self, path: &Path) {
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

    pub(crate) fn line(&mut self, line: &str, file: &str, line_no: usize) {
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

    pub(crate) fn load_module(&mut self, words: &[String], file: &str, line_no: usize) {
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

    pub(crate) fn include(&mut self, arg: &str, optional: bool, file: &str, line_no: usize) {
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

    pub(crate) fn open_section(&mut self, name: &str, arg: &str, file: &str, line_no: usize) {
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

    pub(crate) fn jk_directive(
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
    pub(crate) fn apply_workers_override(&mut self) {
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

/// httpd's words for a directive no loaded module defines, with the closest Jk directive.
pub(crate) fn unknown_directive(name: &str, file: &str, line_no: usize) -> String {
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

pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
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
