//! Absolute http and https URLs as requests need them: parsed, joined
//! with a redirect's Location, their origin (where credentials may go) and
//! the host and port to connect to; and query escaping.

/// An absolute http or https URL, split as a request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// https.
    pub tls: bool,
    /// `host[:port]`.
    pub authority: String,
    /// The path and query (`/v2/`, `/token?service=x`).
    pub path: String,
}

impl Url {
    /// `s` when it is an absolute http or https URL (no user info).
    pub fn parse(s: &str) -> Option<Url> {
        let lower = |n: usize| s.get(..n).map(str::to_ascii_lowercase);
        let (tls, rest) = if lower(8).as_deref() == Some("https://") {
            (true, &s[8..])
        } else if lower(7).as_deref() == Some("http://") {
            (false, &s[7..])
        } else {
            return None;
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        let url = Url {
            tls,
            authority: authority.to_string(),
            path: path_of(&rest[end..]),
        };
        url.usable().then_some(url)
    }

    /// Where redirect `location` (absolute, or relative to this URL) points.
    pub fn join(&self, location: &str) -> Option<Url> {
        let location = location.trim();
        // A scheme (before any slash, query or fragment): absolute.
        let head = &location[..location.find(['/', '?', '#']).unwrap_or(location.len())];
        if head.contains(':') {
            return Url::parse(location);
        }
        let scheme = if self.tls { "https:" } else { "http:" };
        if location.starts_with("//") {
            return Url::parse(&format!("{scheme}{location}"));
        }
        let path = if location.starts_with('/') {
            path_of(location)
        } else {
            // Relative to the current path's directory.
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            path_of(&format!("{dir}{location}"))
        };
        let url = Url {
            path,
            ..self.clone()
        };
        url.usable().then_some(url)
    }

    /// `scheme://authority`: what a connection is to, and whose requests
    /// may carry the credentials.
    pub fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.authority
        )
    }

    /// The URL for messages: without its query, which may hold signatures.
    pub fn shown(&self) -> String {
        format!(
            "{}{}",
            self.origin(),
            self.path.split('?').next().unwrap_or("")
        )
    }

    /// `host:port`, the port said even when it is the scheme's (what a
    /// CONNECT names).
    pub(super) fn authority_with_port(&self) -> Option<String> {
        let (_, port) = self.host_port()?;
        let bare = match self.authority.rsplit_once(':') {
            Some((h, p)) if !p.ends_with(']') && !h.is_empty() => h,
            _ => &self.authority,
        };
        Some(format!("{bare}:{port}"))
    }

    /// The host to connect to (no brackets around an IPv6 address) and the
    /// port.
    pub(super) fn host_port(&self) -> Option<(&str, u16)> {
        let a = self.authority.as_str();
        let default = if self.tls { 443 } else { 80 };
        let (host, port) = if let Some(rest) = a.strip_prefix('[') {
            let (host, after) = rest.split_once(']')?;
            (host, after.strip_prefix(':'))
        } else {
            match a.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (a, None),
            }
        };
        let port = match port {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        (!host.is_empty()).then_some((host, port))
    }

    /// Whether the URL can go in a request line and a Host header.
    fn usable(&self) -> bool {
        let ok = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
        ok(&self.authority) && ok(&self.path) && self.host_port().is_some()
    }
}

/// `s` (`/path?query#fragment`, or empty) as a request's path and query.
fn path_of(s: &str) -> String {
    let s = s.split('#').next().unwrap_or("");
    if s.starts_with('/') {
        s.to_string()
    } else {
        format!("/{s}")
    }
}

/// Appends `value` to `out` percent-encoded for a query or a form: all but
/// letters, digits and `-._~`.
pub fn query_escape(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_and_join() {
        let u = Url::parse("HTTPS://auth.example:8443/token?a=1#x").unwrap();
        assert_eq!(
            (u.tls, u.authority.as_str(), u.path.as_str()),
            (true, "auth.example:8443", "/token?a=1")
        );
        assert_eq!(u.host_port(), Some(("auth.example", 8443)));
        assert_eq!(u.shown(), "https://auth.example:8443/token");
        let u = Url::parse("http://h").unwrap();
        assert_eq!((u.path.as_str(), u.host_port()), ("/", Some(("h", 80))));
        let u = Url::parse("https://[::1]/x").unwrap();
        assert_eq!(u.host_port(), Some(("::1", 443)));
        for bad in [
            "ftp://h/",
            "h/x",
            "https://",
            "http://u:p@h/",
            "http://h:x/",
            "http://h/a b",
        ] {
            assert_eq!(Url::parse(bad), None, "{bad}");
        }
        let base = Url::parse("http://r:5000/v2/a/blobs/sha256:1").unwrap();
        let j = |l: &str| base.join(l).map(|u| format!("{}{}", u.origin(), u.path));
        assert_eq!(j("https://s3/x?sig=1").unwrap(), "https://s3/x?sig=1");
        assert_eq!(j("//cdn:81/y").unwrap(), "http://cdn:81/y");
        assert_eq!(j("/v2/b").unwrap(), "http://r:5000/v2/b");
        assert_eq!(j("c?d").unwrap(), "http://r:5000/v2/a/blobs/c?d");
        assert_eq!(j("http://h:99999/"), None);
        let mut q = String::new();
        query_escape(&mut q, "repository:a/b:pull x~");
        assert_eq!(q, "repository%3Aa%2Fb%3Apull%20x~");

        // What a CONNECT names: the port always.
        let t = |s: &str| Url::parse(s).unwrap().authority_with_port().unwrap();
        assert_eq!(t("https://r.example/v2/"), "r.example:443");
        assert_eq!(t("https://r.example:5000/"), "r.example:5000");
        assert_eq!(t("https://[::1]/"), "[::1]:443");
        assert_eq!(t("https://[::1]:5000/"), "[::1]:5000");
    }
}
