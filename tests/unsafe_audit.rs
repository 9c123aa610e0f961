//! `unsafe` stays in the FFI layer (src/httpd/ and src/module.rs), and every unsafe block,
//! unsafe fn and unsafe impl there says why it is sound in a `// SAFETY:` comment on the
//! same line or at most three lines above it (the comment itself may be longer). An unsafe
//! fn may state its contract in a `/// # Safety` doc section instead, as rustdoc expects.

use std::path::{Path, PathBuf};

const FFI_LAYER: [&str; 2] = ["src/httpd/", "src/module.rs"];
const LOOKBACK: usize = 3;

/// One source line split into code (string and char literals blanked) and comment text.
#[derive(Default)]
struct Line {
    code: String,
    comment: String,
}

/// A small Rust lexer: enough to tell code from comments, strings and char literals, so
/// that `unsafe` in a doc comment or a CSP header string is not mistaken for code.
fn split(src: &str) -> Vec<Line> {
    let chars: Vec<char> = src.chars().collect();
    let mut lines = vec![Line::default()];
    let mut i = 0;
    let mut block_depth = 0usize;
    let push_code = |lines: &mut Vec<Line>, c: char| {
        if c == '\n' {
            lines.push(Line::default());
        } else {
            lines.last_mut().unwrap().code.push(c);
        }
    };
    let push_comment = |lines: &mut Vec<Line>, c: char| {
        if c == '\n' {
            lines.push(Line::default());
        } else {
            lines.last_mut().unwrap().comment.push(c);
        }
    };
    // Blanks a literal but keeps its newlines, so line numbers stay right.
    let blank =
        |lines: &mut Vec<Line>, c: char| push_code(lines, if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if block_depth > 0 {
            if c == '*' && next == Some('/') {
                block_depth -= 1;
                i += 2;
            } else if c == '/' && next == Some('*') {
                block_depth += 1;
                i += 2;
            } else {
                push_comment(&mut lines, c);
                i += 1;
            }
            continue;
        }
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    push_comment(&mut lines, chars[i]);
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                block_depth = 1;
                i += 2;
            }
            'r' | 'b'
                if !chars
                    .get(i.wrapping_sub(1))
                    .is_some_and(|p| p.is_alphanumeric() || *p == '_')
                    && raw_string_start(&chars[i..]).is_some() =>
            {
                let (hashes, open) = raw_string_start(&chars[i..]).unwrap();
                i += open;
                let close: Vec<char> = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                while i < chars.len() && !chars[i..].starts_with(&close) {
                    blank(&mut lines, chars[i]);
                    i += 1;
                }
                i += close.len();
                push_code(&mut lines, '"');
            }
            '"' => {
                push_code(&mut lines, '"');
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        blank(&mut lines, chars[i]);
                        i += 1;
                    }
                    if i < chars.len() {
                        blank(&mut lines, chars[i]);
                        i += 1;
                    }
                }
                push_code(&mut lines, '"');
                i += 1;
            }
            '\'' => {
                // A char literal ('x', '\n', '\u{..}'); otherwise a lifetime or label.
                let end = if next == Some('\\') {
                    chars[i + 2..]
                        .iter()
                        .position(|&c| c == '\'')
                        .map(|p| i + 2 + p)
                } else if chars.get(i + 2) == Some(&'\'') {
                    Some(i + 2)
                } else {
                    None
                };
                match end {
                    Some(end) => {
                        push_code(&mut lines, '\'');
                        push_code(&mut lines, '\'');
                        i = end + 1;
                    }
                    None => {
                        push_code(&mut lines, c);
                        i += 1;
                    }
                }
            }
            _ => {
                push_code(&mut lines, c);
                i += 1;
            }
        }
    }
    lines
}

/// `r"`, `r#"`, `br"`, `br##"` ...: the number of `#` and the length of the opener.
fn raw_string_start(s: &[char]) -> Option<(usize, usize)> {
    let mut j = usize::from(s.first() == Some(&'b'));
    if s.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = s[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    (s.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// What follows an `unsafe` keyword at `col` of line `at`: the next code words, across lines.
fn following(lines: &[Line], at: usize, col: usize) -> String {
    let mut s = lines[at].code[col + "unsafe".len()..].to_owned();
    for l in lines.iter().skip(at + 1).take(3) {
        s.push(' ');
        s.push_str(&l.code);
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Block,
    Fn,
    Impl,
    /// Unsafe attributes (`#[unsafe(no_mangle)]`) and extern declaration blocks carry no
    /// proof obligation of their own.
    Other,
}

fn kind(rest: &str) -> Kind {
    let rest = rest.trim_start();
    let rest = match rest.strip_prefix("extern") {
        Some(r) => r
            .trim_start()
            .trim_start_matches(['"', ' ', 'C'])
            .trim_start(),
        None if rest.starts_with('{') => return Kind::Block,
        None => rest,
    };
    if rest.starts_with("fn") {
        Kind::Fn
    } else if rest.starts_with("impl") {
        Kind::Impl
    } else {
        Kind::Other
    }
}

/// The comment lines that can explain line `n`: the line itself, the `LOOKBACK` lines above
/// it, and the whole comment block (with attributes) directly above it, however long.
fn explaining_comments(lines: &[Line], n: usize) -> impl Iterator<Item = &str> {
    let mut first = n;
    while first > 0 && {
        let l = &lines[first - 1];
        let code = l.code.trim();
        (code.is_empty() && !l.comment.is_empty()) || code.starts_with("#[")
    } {
        first -= 1;
    }
    lines[first.min(n.saturating_sub(LOOKBACK))..=n]
        .iter()
        .map(|l| l.comment.as_str())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn audit(rel: &str, src: &str) -> Vec<String> {
    let lines = split(src);
    let in_ffi = FFI_LAYER.iter().any(|f| rel.starts_with(f));
    let mut problems = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let code = &line.code;
        let mut from = 0;
        while let Some(pos) = code[from..].find("unsafe").map(|p| from + p) {
            from = pos + "unsafe".len();
            let before = code[..pos].chars().next_back();
            let after = code[from..].chars().next();
            if before.is_some_and(is_ident) || after.is_some_and(is_ident) {
                continue;
            }
            if !in_ffi {
                problems.push(format!("{rel}:{}: unsafe outside the FFI layer", n + 1));
                continue;
            }
            let kind = kind(&following(&lines, n, pos));
            if kind == Kind::Other {
                continue;
            }
            // An unsafe fn may instead state its contract in a `# Safety` doc section.
            let explained = explaining_comments(&lines, n)
                .any(|c| c.contains("SAFETY:") || (kind == Kind::Fn && c.contains("# Safety")));
            if !explained {
                problems.push(format!("{rel}:{}: unsafe without a SAFETY: comment", n + 1));
            }
        }
    }
    problems
}

#[test]
fn unsafe_only_in_the_ffi_layer_and_always_explained() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    assert!(files.len() > 10, "src/ not found: {files:?}");
    let mut problems = Vec::new();
    let mut seen_unsafe = 0;
    for f in &files {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let src = std::fs::read_to_string(f).unwrap();
        seen_unsafe += split(&src)
            .iter()
            .filter(|l| l.code.contains("unsafe"))
            .count();
        problems.extend(audit(&rel, &src));
    }
    assert!(
        seen_unsafe > 0,
        "the FFI layer has unsafe code; the scan must see it"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scan_tells_code_from_comments_and_strings() {
    let ok = "// unsafe in a comment\n/* unsafe { */ let s = \"unsafe {\"; let r = r#\"unsafe\"#;\n\
              let c = '\"'; fn f<'a>(x: &'a u8) {} let not_unsafe_fn = 1;\n";
    assert!(audit("src/config/x.rs", ok).is_empty());
    assert_eq!(
        audit("src/config/x.rs", "fn f() { unsafe { g() } }\n"),
        ["src/config/x.rs:1: unsafe outside the FFI layer"]
    );
    let ffi = "// SAFETY: fine\n\nlet a = unsafe { g() };\n\n\n\n\nlet b = unsafe { h() };\n\
               unsafe extern \"C\" fn cb() {}\n#[unsafe(no_mangle)]\n\
               // SAFETY: all atomics\nunsafe impl Sync for S {}\nunsafe impl Send for S {}\n\
               /// # Safety\n/// `p` valid\n#[inline]\nunsafe fn ok(p: *const u8) {}\n\
               // SAFETY: long\n// reason\n// more\n// more\nunsafe { x() }\n\
               /// # Safety\nunsafe impl Sync for T {}\n";
    assert_eq!(
        audit("src/httpd/mod.rs", ffi),
        [
            "src/httpd/mod.rs:8: unsafe without a SAFETY: comment",
            "src/httpd/mod.rs:9: unsafe without a SAFETY: comment",
            "src/httpd/mod.rs:24: unsafe without a SAFETY: comment",
        ]
    );
}
