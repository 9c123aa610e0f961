//! `JkAutoAlias`: a URI no JkMount matched is served by httpd from the Tomcat webapps
//! directory when its first segment names a webapp there, as mod_jk does.

/// What translate_name does with an unmapped URI under `JkAutoAlias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasDecision {
    /// Serve this file (or directory) from the webapps directory.
    Serve(String),
    /// A webapp's `WEB-INF` or `META-INF`: 404.
    NotFound,
    /// A `.war` archive that is not an unpacked webapp: 403.
    Forbidden,
    /// Not a webapp: httpd maps the URI as usual.
    Decline,
}

/// Decides for a normalised URI. `dir` is the webapps directory without a trailing
/// slash; `is_dir` tells whether a path is a directory.
pub fn auto_alias(dir: &str, uri: &str, is_dir: impl Fn(&str) -> bool) -> AliasDecision {
    let Some(rest) = uri.strip_prefix('/').filter(|r| !r.is_empty()) else {
        return AliasDecision::Decline;
    };
    let context = match rest.split_once('/') {
        Some((context, after)) => {
            let child = after.split('/').next().unwrap_or("");
            if child.eq_ignore_ascii_case("WEB-INF") || child.eq_ignore_ascii_case("META-INF") {
                return AliasDecision::NotFound;
            }
            context
        }
        None => rest,
    };
    if is_dir(&format!("{dir}/{context}")) {
        AliasDecision::Serve(format!("{dir}{uri}"))
    } else if context.len() > 4 && context[context.len() - 4..].eq_ignore_ascii_case(".war") {
        AliasDecision::Forbidden
    } else {
        AliasDecision::Decline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(uri: &str) -> AliasDecision {
        auto_alias("/srv/webapps", uri, |p| {
            ["/srv/webapps/app", "/srv/webapps/app.war.d"].contains(&p)
        })
    }

    #[test]
    fn jk_auto_alias_decisions() {
        use AliasDecision::*;
        assert_eq!(
            decide("/app/a/b.html"),
            Serve("/srv/webapps/app/a/b.html".into())
        );
        assert_eq!(decide("/app"), Serve("/srv/webapps/app".into()));
        assert_eq!(decide("/app/WEB-INF/web.xml"), NotFound);
        assert_eq!(decide("/app/meta-inf"), NotFound);
        assert_eq!(
            decide("/other/WEB-INF/x"),
            NotFound,
            "mod_jk checks before the stat"
        );
        assert_eq!(
            decide("/app/x/WEB-INF"),
            Serve("/srv/webapps/app/x/WEB-INF".into())
        );
        assert_eq!(decide("/app.WAR"), Forbidden);
        assert_eq!(decide("/app.war/x"), Forbidden);
        assert_eq!(decide("/.war"), Decline);
        assert_eq!(decide("/missing/x"), Decline);
        assert_eq!(decide("/"), Decline);
    }
}
