//! `JkRequestLogFormat`: one line in the JK log per request a worker served, with mod_jk's
//! items. Parsing happens when the directive is read (an unknown item fails the
//! configuration); rendering gets plain values from the log_transaction hook.

use std::fmt::Write;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Text(String),
    /// `%b`: body bytes, `-` when none were sent.
    BytesClf,
    /// `%B`: body bytes, `0` when none were sent.
    Bytes,
    /// `%H`
    Protocol,
    /// `%m`
    Method,
    /// `%p`: the server's canonical port.
    Port,
    /// `%q`: `?query`, or nothing.
    Query,
    /// `%r`: the request line.
    RequestLine,
    /// `%s`
    Status,
    /// `%T`: time spent in the worker, `seconds.microseconds`.
    Duration,
    /// `%U`: the URL path.
    Uri,
    /// `%v`: the canonical ServerName.
    VirtualHost,
    /// `%V`: the server name as UseCanonicalName gives it.
    ServerName,
    /// `%w`: the worker.
    Worker,
    /// `%R`: the lb member's route.
    Route,
}

/// A parsed `JkRequestLogFormat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLogFormat {
    items: Vec<Item>,
}

/// What one request contributes to its line; `None` prints as `-`.
#[derive(Debug, Default, Clone)]
pub struct RequestValues<'a> {
    pub method: &'a str,
    pub protocol: &'a str,
    pub request_line: &'a str,
    pub uri: &'a str,
    pub args: Option<&'a str>,
    pub status: i32,
    /// Whether any body bytes went out (httpd's `sent_bodyct`).
    pub sent_body: bool,
    pub bytes_sent: i64,
    pub virtual_host: Option<&'a str>,
    pub server_name: Option<&'a str>,
    pub port: u16,
    pub worker: Option<&'a str>,
    pub route: Option<&'a str>,
    pub duration: Option<&'a str>,
}

fn item_for(c: char) -> Option<Item> {
    Some(match c {
        'b' => Item::BytesClf,
        'B' => Item::Bytes,
        'H' => Item::Protocol,
        'm' => Item::Method,
        'p' => Item::Port,
        'q' => Item::Query,
        'r' => Item::RequestLine,
        's' => Item::Status,
        'T' => Item::Duration,
        'U' => Item::Uri,
        'v' => Item::VirtualHost,
        'V' => Item::ServerName,
        'w' => Item::Worker,
        'R' => Item::Route,
        _ => return None,
    })
}

impl RequestLogFormat {
    /// Parses a format; `\n`, `\t` and `\\` are escapes, any other backslash stays.
    pub fn parse(format: &str) -> Result<RequestLogFormat, String> {
        let mut items = Vec::new();
        let mut text = String::new();
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let k = chars.next().unwrap_or('\0');
                    let item = item_for(k).ok_or_else(|| {
                        format!(
                            "JkRequestLogFormat: unknown item '%{}' (known: %b %B %H %m %p %q %r %s %T %U %v %V %w %R)",
                            k.escape_default()
                        )
                    })?;
                    if !text.is_empty() {
                        items.push(Item::Text(std::mem::take(&mut text)));
                    }
                    items.push(item);
                }
                '\\' => match chars.peek() {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('\\') => text.push('\\'),
                    _ => {
                        text.push('\\');
                        continue;
                    }
                },
                _ => {
                    text.push(c);
                    continue;
                }
            }
            if c == '\\' {
                chars.next();
            }
        }
        if !text.is_empty() {
            items.push(Item::Text(text));
        }
        Ok(RequestLogFormat { items })
    }

    /// The line for one request (without the time stamp and newline the logger adds).
    /// Request data has its control characters replaced, so it cannot forge lines.
    pub fn render(&self, v: &RequestValues) -> String {
        let mut out = String::with_capacity(128);
        for item in &self.items {
            let value: std::borrow::Cow<str> = match item {
                Item::Text(t) => {
                    out.push_str(t);
                    continue;
                }
                Item::BytesClf if !v.sent_body => "-".into(),
                Item::Bytes if !v.sent_body => "0".into(),
                Item::BytesClf | Item::Bytes => v.bytes_sent.to_string().into(),
                Item::Protocol => v.protocol.into(),
                Item::Method => v.method.into(),
                Item::Port => v.port.to_string().into(),
                Item::Query => v.args.map_or(String::new(), |a| format!("?{a}")).into(),
                Item::RequestLine => v.request_line.into(),
                Item::Status if v.status <= 0 => "-".into(),
                Item::Status => v.status.to_string().into(),
                Item::Duration => v.duration.unwrap_or("-").into(),
                Item::Uri => v.uri.into(),
                Item::VirtualHost => v.virtual_host.unwrap_or("-").into(),
                Item::ServerName => v.server_name.unwrap_or("-").into(),
                Item::Worker => v.worker.unwrap_or("-").into(),
                Item::Route => v.route.unwrap_or("-").into(),
            };
            out.extend(value.chars().map(|c| if c.is_control() { '?' } else { c }));
        }
        out
    }
}

/// `%T`'s text: whole seconds, a dot and six digits of microseconds.
pub fn duration_text(d: Duration) -> String {
    let mut s = String::new();
    let _ = write!(s, "{}.{:06}", d.as_secs(), d.subsec_micros());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> RequestValues<'static> {
        RequestValues {
            method: "GET",
            protocol: "HTTP/1.1",
            request_line: "GET /app/x?a=1 HTTP/1.1",
            uri: "/app/x",
            args: Some("a=1"),
            status: 200,
            sent_body: true,
            bytes_sent: 42,
            virtual_host: Some("www.example.org"),
            server_name: Some("example.org"),
            port: 8080,
            worker: Some("lb"),
            route: Some("tomcat2"),
            duration: Some("0.001234"),
        }
    }

    #[test]
    fn jk_request_log_format_renders_every_item() {
        let f = RequestLogFormat::parse("%b %B %H %m %p %q %r %s %T %U %v %V %w %R").unwrap();
        assert_eq!(
            f.render(&values()),
            "42 42 HTTP/1.1 GET 8080 ?a=1 GET /app/x?a=1 HTTP/1.1 200 0.001234 /app/x \
             www.example.org example.org lb tomcat2"
        );
    }

    #[test]
    fn jk_request_log_format_empty_values() {
        let f = RequestLogFormat::parse("[%b|%B|%q|%R|%T|%s]").unwrap();
        let v = RequestValues {
            sent_body: false,
            args: None,
            route: None,
            duration: None,
            status: 0,
            ..values()
        };
        assert_eq!(f.render(&v), "[-|0||-|-|-]");
    }

    #[test]
    fn jk_request_log_format_escapes_and_errors() {
        let f = RequestLogFormat::parse(r"a\tb\\c\n\x%%").err();
        assert!(f.unwrap().contains("'%%'"), "%% is not an item in mod_jk");
        let f = RequestLogFormat::parse(r"a\tb\\c\x%w").unwrap();
        assert_eq!(f.render(&values()), "a\tb\\c\\xlb");
        let f = RequestLogFormat::parse("x\\n%U").unwrap();
        assert_eq!(f.render(&values()), "x\n/app/x");
        assert!(RequestLogFormat::parse("%Z").unwrap_err().contains("'%Z'"));
        assert!(RequestLogFormat::parse("50%").is_err());
        let v = RequestValues {
            uri: "/a\nb",
            ..values()
        };
        assert_eq!(RequestLogFormat::parse("%U").unwrap().render(&v), "/a?b");
    }

    #[test]
    fn jk_request_log_format_duration_text() {
        assert_eq!(duration_text(Duration::from_micros(1_234)), "0.001234");
        assert_eq!(
            duration_text(Duration::from_micros(61_000_001)),
            "61.000001"
        );
    }
}
