//! Tiny validators of the XML, text, JSON and Prometheus output.

/// Well-formedness of the XML we emit: balanced elements, quoted attributes, no raw
/// `<` or `&` outside markup except entities.
pub(super) fn xml_ok(s: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = s;
    let mut roots = 0;
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        check_text(text)?;
        let gt = rest[lt..].find('>').ok_or("unclosed tag")? + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or("close without open")?;
            if open != name.trim() {
                return Err(format!("</{name}> closes <{open}>"));
            }
            continue;
        }
        let self_closing = tag.trim_end().ends_with('/');
        let body = tag.trim_end().trim_end_matches('/');
        let mut parts = body.splitn(2, char::is_whitespace);
        let name = parts.next().ok_or("empty tag")?.to_owned();
        if name.is_empty() || name.contains(['"', '=']) {
            return Err(format!("bad name {name:?}"));
        }
        let mut attrs = parts.next().unwrap_or("").trim();
        let mut seen = Vec::new();
        while !attrs.is_empty() {
            let eq = attrs
                .find('=')
                .ok_or(format!("attribute without = in {tag:?}"))?;
            let key = attrs[..eq].trim();
            if key.is_empty() || key.contains(char::is_whitespace) || seen.contains(&key) {
                return Err(format!("bad attribute key {key:?}"));
            }
            seen.push(key);
            let after = attrs[eq + 1..].trim_start();
            let after = after.strip_prefix('"').ok_or("unquoted attribute")?;
            let end = after.find('"').ok_or("unterminated attribute")?;
            check_text(&after[..end])?;
            if after[..end].contains(['\n', '\r']) {
                return Err("raw newline in attribute".into());
            }
            attrs = after[end + 1..].trim_start();
        }
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name);
        }
    }
    check_text(rest)?;
    if !stack.is_empty() {
        return Err(format!("unclosed {stack:?}"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(())
}

pub(super) fn check_text(t: &str) -> Result<(), String> {
    if t.contains('<') || t.contains('>') {
        return Err(format!("raw markup char in {t:?}"));
    }
    let mut rest = t;
    while let Some(i) = rest.find('&') {
        let end = rest[i..].find(';').ok_or("bare &")? + i;
        let ent = &rest[i + 1..end];
        let ok = matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos")
            || ent
                .strip_prefix('#')
                .is_some_and(|n| n.parse::<u32>().is_ok());
        if !ok {
            return Err(format!("bad entity &{ent};"));
        }
        rest = &rest[end + 1..];
    }
    Ok(())
}

// A small recursive-descent JSON checker (RFC 8259 grammar).

fn ws(b: &[u8], i: &mut usize) {
    while *i < b.len() && matches!(b[*i], b' ' | b'\n' | b'\r' | b'\t') {
        *i += 1;
    }
}

fn lit(b: &[u8], i: &mut usize, l: &[u8]) -> Result<(), String> {
    if b[*i..].starts_with(l) {
        *i += l.len();
        Ok(())
    } else {
        Err(format!("bad literal at {i}"))
    }
}

fn string(b: &[u8], i: &mut usize) -> Result<(), String> {
    *i += 1;
    loop {
        let c = *b.get(*i).ok_or("unterminated string")?;
        *i += 1;
        match c {
            b'"' => return Ok(()),
            b'\\' => {
                let e = *b.get(*i).ok_or("bad escape")?;
                *i += 1;
                match e {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        let hex = b.get(*i..*i + 4).ok_or("short \\u")?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return Err("bad \\u".into());
                        }
                        *i += 4;
                    }
                    _ => return Err("bad escape".into()),
                }
            }
            c if c < 0x20 => return Err("control char in string".into()),
            _ => {}
        }
    }
}

fn number(b: &[u8], i: &mut usize) -> Result<(), String> {
    let start = *i;
    if b[*i] == b'-' {
        *i += 1;
    }
    let digits = b[*i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && b[*i] == b'0') {
        return Err(format!("bad number at {start}"));
    }
    *i += digits;
    if b.get(*i) == Some(&b'.') {
        *i += 1;
        let d = b[*i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if d == 0 {
            return Err("bad fraction".into());
        }
        *i += d;
    }
    Ok(())
}

fn value(b: &[u8], i: &mut usize, depth: usize) -> Result<(), String> {
    if depth > 64 {
        return Err("too deep".into());
    }
    ws(b, i);
    match *b.get(*i).ok_or("unexpected end")? {
        b'{' => object(b, i, depth),
        b'[' => array(b, i, depth),
        b'"' => string(b, i),
        b't' => lit(b, i, b"true"),
        b'f' => lit(b, i, b"false"),
        b'n' => lit(b, i, b"null"),
        b'-' | b'0'..=b'9' => number(b, i),
        c => Err(format!("unexpected {:?} at {i}", c as char)),
    }
}

fn object(b: &[u8], i: &mut usize, depth: usize) -> Result<(), String> {
    *i += 1;
    ws(b, i);
    if b.get(*i) == Some(&b'}') {
        *i += 1;
        return Ok(());
    }
    loop {
        ws(b, i);
        if b.get(*i) != Some(&b'"') {
            return Err(format!("expected key at {i}"));
        }
        string(b, i)?;
        ws(b, i);
        if b.get(*i) != Some(&b':') {
            return Err(format!("expected : at {i}"));
        }
        *i += 1;
        value(b, i, depth + 1)?;
        ws(b, i);
        match b.get(*i) {
            Some(b',') => *i += 1,
            Some(b'}') => {
                *i += 1;
                return Ok(());
            }
            _ => return Err(format!("expected , or }} at {i}")),
        }
    }
}

fn array(b: &[u8], i: &mut usize, depth: usize) -> Result<(), String> {
    *i += 1;
    ws(b, i);
    if b.get(*i) == Some(&b']') {
        *i += 1;
        return Ok(());
    }
    loop {
        value(b, i, depth + 1)?;
        ws(b, i);
        match b.get(*i) {
            Some(b',') => *i += 1,
            Some(b']') => {
                *i += 1;
                return Ok(());
            }
            _ => return Err(format!("expected , or ] at {i}")),
        }
    }
}

/// A complete JSON value and nothing else.
pub(super) fn json_ok(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    value(b, &mut i, 0)?;
    ws(b, &mut i);
    if i != b.len() {
        return Err(format!("trailing data at {i}"));
    }
    Ok(())
}

/// Prometheus text format 0.0.4: comments, or `name{labels} value`.
pub(super) fn prom_ok(s: &str) -> Result<usize, String> {
    let mut samples = 0;
    for line in s.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            if c.starts_with(" HELP ") || c.starts_with(" TYPE ") {
                let parts: Vec<&str> = c.trim().splitn(3, ' ').collect();
                if parts.len() < 3 {
                    return Err(format!("short comment {line:?}"));
                }
            }
            continue;
        }
        let b = line.as_bytes();
        let mut i = 0;
        let name_ok = |c: u8, first: bool| {
            c.is_ascii_alphabetic() || c == b'_' || c == b':' || (!first && c.is_ascii_digit())
        };
        while i < b.len() && name_ok(b[i], i == 0) {
            i += 1;
        }
        if i == 0 {
            return Err(format!("no metric name: {line:?}"));
        }
        if b.get(i) == Some(&b'{') {
            i += 1;
            loop {
                let start = i;
                while i < b.len() && name_ok(b[i], i == start) {
                    i += 1;
                }
                if i == start || b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                    return Err(format!("bad label in {line:?}"));
                }
                i += 2;
                loop {
                    match b.get(i) {
                        None | Some(b'\n') => return Err(format!("open label {line:?}")),
                        Some(b'\\') => {
                            if !matches!(b.get(i + 1), Some(b'\\' | b'"' | b'n')) {
                                return Err(format!("bad label escape {line:?}"));
                            }
                            i += 2;
                        }
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                match b.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => return Err(format!("bad label list {line:?}")),
                }
            }
        }
        let rest = line[i..]
            .strip_prefix(' ')
            .ok_or(format!("no value {line:?}"))?;
        let value = rest.split(' ').next().unwrap_or("");
        let ok = matches!(value, "+Inf" | "-Inf" | "NaN") || value.parse::<f64>().is_ok();
        if !ok {
            return Err(format!("bad value {line:?}"));
        }
        samples += 1;
    }
    Ok(samples)
}
