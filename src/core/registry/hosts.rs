//! containerd's host directories (`certs.d`, a pull's `hosts_dir`): which
//! hosts a registry's content is asked from, in which order, and how each is
//! talked to, read from `<dir>/<host>/hosts.toml` (or the certificate files
//! docker's layout keeps there) as containerd's `remotes/docker/config`
//! reads them.
//!
//! The rules, containerd's: the directory of registry `host:port` is the
//! first of `host_port_`, `host:port` and `_default` that exists. Its
//! `hosts.toml` lists mirrors as `[host."URL"]` tables, tried in the order
//! they appear, then the registry itself (or `server` instead of it), whose
//! settings are the file's top-level keys. A URL without a scheme is https;
//! the API root is the URL's path with `/v2` appended unless it ends so or
//! `override_path` is set. Each host has `capabilities` (`pull`, `resolve`,
//! `push`; all when not said: a pull by tag resolves only on hosts with
//! `resolve`, a push goes to the first host with `push`), `ca` (a file or
//! a list of them, trusted besides the system's), `client` (a file with
//! certificate and key, a list of them, or `[cert, key]` pairs),
//! `skip_verify`, `header` (name = value or list of
//! values, sent with every request to the host) and `dial_timeout`. Paths
//! are relative to the host's directory. Without a `hosts.toml` (or with an
//! empty one), `*.crt` files in the directory are CAs and `*.cert` files
//! client certificates, with the key in the `.key` of the same name when
//! there is one.
//!
//! Unlike containerd, which logs a `hosts.toml` it cannot read and goes on
//! with the certificate files, a malformed file is an error here, naming its
//! line and key; keys this library does not know are ignored, as containerd
//! ignores them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::core::files::read_small;
use crate::core::registry::http::Url;

/// The host directory consulted when a pull names none.
pub const DEFAULT_HOSTS_DIR: &str = "/etc/containerd/certs.d";

/// One host a registry's content is asked from, as its host directory
/// describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostConfig {
    /// Where the API is: scheme, authority and root path (`/v2`, no
    /// trailing slash; what `override_path` says, maybe empty). `None`: the
    /// registry itself, as the reference and the pull's options say.
    pub server: Option<Url>,
    /// Blobs and manifests by digest may be fetched from it.
    pub pull: bool,
    /// Tags may be resolved on it.
    pub resolve: bool,
    /// Images may be pushed to it.
    pub push: bool,
    /// CA files trusted besides the system's (and the pull's `ca_file`).
    pub ca: Vec<PathBuf>,
    /// Client certificates: the certificate file, and the key's when it is
    /// not in the same file.
    pub client: Vec<(PathBuf, Option<PathBuf>)>,
    /// Overrides the pull's `skip_verify` when said.
    pub skip_verify: Option<bool>,
    /// Sent with every request to the host, in this order.
    pub headers: Vec<(String, String)>,
    /// How long a connection may take to open.
    pub dial_timeout: Option<Duration>,
}

impl HostConfig {
    /// The registry itself, asked for everything, without settings of its
    /// own.
    pub fn registry() -> HostConfig {
        HostConfig {
            pull: true,
            resolve: true,
            push: true,
            ..Default::default()
        }
    }
}

/// What a host directory says of a registry: the hosts in the order they
/// are tried (the registry itself, or its `server`, last).
#[derive(Debug)]
pub struct Hosts {
    /// The file (or the directory, without a `hosts.toml`) they come from:
    /// for messages.
    pub source: PathBuf,
    pub hosts: Vec<HostConfig>,
}

/// The host directory root a pull uses: `dir` itself (an error when it is
/// not a directory), none for `""`, and without one [`DEFAULT_HOSTS_DIR`]
/// when it exists.
pub fn hosts_root(dir: Option<&Path>) -> Result<Option<PathBuf>, String> {
    match dir {
        None => {
            let d = Path::new(DEFAULT_HOSTS_DIR);
            Ok(d.is_dir().then(|| d.to_path_buf()))
        }
        Some(d) if d.as_os_str().is_empty() => Ok(None),
        Some(d) => match std::fs::metadata(d) {
            Ok(m) if m.is_dir() => Ok(Some(d.to_path_buf())),
            Ok(_) => Err(format!("hosts_dir {}: not a directory", d.display())),
            Err(e) => Err(format!("hosts_dir {}: {e}", d.display())),
        },
    }
}

/// What the host directory of registry `host` (`name[:port]`, as the
/// reference names it) under `root` says; `None` when it has none.
pub fn load(root: &Path, host: &str) -> Result<Option<Hosts>, String> {
    let mut names = Vec::new();
    if let Some(i) = host.rfind(':').filter(|i| *i > 0) {
        names.push(format!("{}_{}_", &host[..i], &host[i + 1..]));
    }
    names.push(host.to_string());
    names.push("_default".to_string());
    for name in names {
        let dir = root.join(&name);
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => return load_dir(&dir).map(Some),
            Ok(_) => return Err(format!("host directory {}: not a directory", dir.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("host directory {}: {e}", dir.display())),
        }
    }
    Ok(None)
}

/// The hosts of host directory `dir`: its `hosts.toml`, else its
/// certificate files.
fn load_dir(dir: &Path) -> Result<Hosts, String> {
    let file = dir.join("hosts.toml");
    let bytes = read_small(&file, "hosts.toml").map_err(|e| e.message)?;
    match bytes.filter(|b| !b.is_empty()) {
        Some(bytes) => {
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| format!("hosts.toml {}: not UTF-8: {e}", file.display()))?;
            let hosts = parse(text, dir).map_err(|e| {
                let line = text[..e.at.min(text.len())].matches('\n').count() + 1;
                format!("hosts.toml {}: line {line}: {}", file.display(), e.why)
            })?;
            Ok(Hosts {
                source: file,
                hosts,
            })
        }
        None => Ok(Hosts {
            source: dir.to_path_buf(),
            hosts: vec![cert_files(dir)?],
        }),
    }
}

/// docker's layout: `*.crt` CAs, `*.cert` client certificates with their
/// `.key`, for the registry itself.
fn cert_files(dir: &Path) -> Result<HostConfig, String> {
    let shown = |e: std::io::Error| format!("host directory {}: {e}", dir.display());
    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(shown)? {
        let entry = entry.map_err(shown)?;
        if !entry.file_type().map_err(shown)?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    let mut host = HostConfig::registry();
    for name in &names {
        if name.ends_with(".crt") {
            host.ca.push(dir.join(name));
        } else if let Some(stem) = name.strip_suffix(".cert") {
            let key = format!("{stem}.key");
            let key = names.contains(&key).then(|| dir.join(key));
            host.client.push((dir.join(name), key));
        }
    }
    Ok(host)
}

/// A fault in a `hosts.toml`: where (a byte offset) and what.
#[derive(Debug)]
struct Fault {
    at: usize,
    why: String,
}

fn fault(at: usize, why: String) -> Fault {
    Fault { at, why }
}

type Value<'a> = Spanned<DeValue<'a>>;

/// The hosts `hosts.toml` text `text` of directory `dir` lists: its
/// `[host."..."]` tables in the order they appear, then the registry itself
/// or its `server`.
fn parse(text: &str, dir: &Path) -> Result<Vec<HostConfig>, Fault> {
    let doc = DeTable::parse(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        fault(at, e.message().trim().to_string())
    })?;
    let doc = doc.get_ref();
    let mut hosts = Vec::new();
    if let Some((key, value)) = doc.get_key_value("host") {
        let DeValue::Table(table) = value.get_ref() else {
            return Err(fault(key.span().start, "host: not a table".into()));
        };
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (name, value) in entries {
            let path = format!("host.{:?}", name.get_ref());
            let DeValue::Table(t) = value.get_ref() else {
                return Err(fault(name.span().start, format!("{path}: not a table")));
            };
            let url = server_url(name.get_ref(), override_path(t, &path)?)
                .map_err(|why| fault(name.span().start, format!("{path}: {why}")))?;
            let mut host = settings(t, dir, &path)?;
            host.server = Some(url);
            hosts.push(host);
        }
    }
    let mut last = settings(doc, dir, "")?;
    match doc.get_key_value("server") {
        Some((key, value)) => {
            let s = string(value, "server")?;
            let url = server_url(s, override_path(doc, "")?)
                .map_err(|why| fault(key.span().start, format!("server: {why}")))?;
            last.server = Some(url);
        }
        // The registry itself: everything it can do, whatever was said
        // (as containerd).
        None => (last.pull, last.resolve, last.push) = (true, true, true),
    }
    hosts.push(last);
    Ok(hosts)
}

/// `prefix.key`, or `key` at the top.
fn key_path(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn override_path(t: &DeTable, prefix: &str) -> Result<bool, Fault> {
    match t.get("override_path") {
        Some(v) => boolean(v, &key_path(prefix, "override_path")),
        None => Ok(false),
    }
}

/// Server `s` of a `hosts.toml` as a [`HostConfig::server`] URL: https
/// when it names no scheme, its path the API root.
fn server_url(s: &str, override_path: bool) -> Result<Url, String> {
    let full = if s.contains("://") {
        s.to_string()
    } else {
        format!("https://{s}")
    };
    let mut url = Url::parse(&full)
        .filter(|u| !u.path.contains('?'))
        .ok_or_else(|| format!("{s:?} is not a host or an http(s) URL"))?;
    let mut root = url.path.trim_end_matches('/').to_string();
    if !override_path && !root.ends_with("/v2") {
        root.push_str("/v2");
    }
    url.path = root;
    Ok(url)
}

/// The settings of table `t` (a `[host."..."]`, or the top of the file),
/// its keys named `prefix.key` in messages.
fn settings(t: &DeTable, dir: &Path, prefix: &str) -> Result<HostConfig, Fault> {
    let mut host = HostConfig::registry();
    let abs = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    };
    for (key, value) in t.iter() {
        let name = key_path(prefix, key.get_ref());
        match key.get_ref().as_ref() {
            "capabilities" => {
                (host.pull, host.resolve, host.push) = (false, false, false);
                for c in array(value, &name)? {
                    match string(c, &name)?.to_ascii_lowercase().as_str() {
                        "pull" => host.pull = true,
                        "resolve" => host.resolve = true,
                        "push" => host.push = true,
                        "referrers" => {}
                        other => {
                            return Err(fault(
                                c.span().start,
                                format!(
                                    "{name}: unknown capability {other:?} \
                                     (pull, resolve, push)"
                                ),
                            ))
                        }
                    }
                }
            }
            "ca" => {
                for v in one_or_many(value) {
                    host.ca.push(abs(string(v, &name)?));
                }
            }
            "client" => {
                for v in one_or_many(value) {
                    match v.get_ref() {
                        DeValue::Array(pair) => {
                            let [cert, key] = &pair[..] else {
                                return Err(fault(
                                    v.span().start,
                                    format!("{name}: a pair is [certificate, key]"),
                                ));
                            };
                            let (cert, key) = (string(cert, &name)?, string(key, &name)?);
                            host.client.push((abs(cert), Some(abs(key))));
                        }
                        _ => host.client.push((abs(string(v, &name)?), None)),
                    }
                }
            }
            "skip_verify" => host.skip_verify = Some(boolean(value, &name)?),
            "header" => {
                let DeValue::Table(headers) = value.get_ref() else {
                    return Err(fault(value.span().start, format!("{name}: not a table")));
                };
                for (h, v) in headers.iter() {
                    let hname = format!("{name}.{}", h.get_ref());
                    if hyper::header::HeaderName::from_bytes(h.get_ref().as_bytes()).is_err() {
                        return Err(fault(h.span().start, format!("{hname}: not a header name")));
                    }
                    for v in one_or_many(v) {
                        let s = string(v, &hname)?;
                        if hyper::header::HeaderValue::from_str(s).is_err() {
                            return Err(fault(
                                v.span().start,
                                format!("{hname}: not a header value"),
                            ));
                        }
                        host.headers.push((h.get_ref().to_string(), s.to_string()));
                    }
                }
            }
            "dial_timeout" => {
                let s = string(value, &name)?;
                let d = go_duration(s).ok_or_else(|| {
                    let why = format!("{name}: {s:?} is not a duration (\"1s\", \"1m30s\")");
                    fault(value.span().start, why)
                })?;
                host.dial_timeout = Some(d);
            }
            // Read where the URL is made; `server`, `host`: the caller's.
            _ => {}
        }
    }
    Ok(host)
}

/// Duration `s` as Go's `time.ParseDuration` reads it: numbers with an
/// optional fraction, each with its unit (`ns`, `us`, `µs`, `ms`, `s`,
/// `m`, `h`), e.g. `1.5s`, `1m30s`; `0` alone. Not negative.
fn go_duration(s: &str) -> Option<Duration> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// The values of `v`: itself, or its items when it is an array.
fn one_or_many<'a, 'i>(v: &'a Value<'i>) -> Vec<&'a Value<'i>> {
    match v.get_ref() {
        DeValue::Array(items) => items.iter().collect(),
        _ => vec![v],
    }
}

fn array<'a, 'i>(v: &'a Value<'i>, name: &str) -> Result<&'a [Value<'i>], Fault> {
    match v.get_ref() {
        DeValue::Array(items) => Ok(items),
        other => Err(wrong_type(v, name, "an array", other)),
    }
}

fn string<'a>(v: &'a Value<'_>, name: &str) -> Result<&'a str, Fault> {
    match v.get_ref() {
        DeValue::String(s) => Ok(s),
        other => Err(wrong_type(v, name, "a string", other)),
    }
}

fn boolean(v: &Value<'_>, name: &str) -> Result<bool, Fault> {
    match v.get_ref() {
        DeValue::Boolean(b) => Ok(*b),
        other => Err(wrong_type(v, name, "true or false", other)),
    }
}

fn wrong_type(v: &Value<'_>, name: &str, wanted: &str, got: &DeValue<'_>) -> Fault {
    fault(
        v.span().start,
        format!("{name}: {wanted} is wanted, not {}", got.type_str()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Option<Url> {
        Url::parse(s)
    }

    /// A host directory root with `files` (path, content) written.
    fn root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    #[test]
    fn which_directory() {
        // host_port_ before host:port before _default.
        let r = root(&[
            ("r.example_5000_/hosts.toml", "server = \"https://a\""),
            ("r.example:5000/hosts.toml", "server = \"https://b\""),
            ("_default/hosts.toml", "server = \"https://c\""),
        ]);
        let server = |host: &str| {
            load(r.path(), host).unwrap().unwrap().hosts[0]
                .server
                .clone()
                .unwrap()
                .authority
        };
        assert_eq!(server("r.example:5000"), "a");
        std::fs::remove_dir_all(r.path().join("r.example_5000_")).unwrap();
        assert_eq!(server("r.example:5000"), "b");
        assert_eq!(server("other"), "c");
        std::fs::remove_dir_all(r.path().join("_default")).unwrap();
        assert!(load(r.path(), "other").unwrap().is_none());

        assert_eq!(hosts_root(Some(Path::new(""))).unwrap(), None);
        let e = hosts_root(Some(&r.path().join("none"))).unwrap_err();
        assert!(e.contains("none: No such file"), "{e}");
    }

    #[test]
    fn mirrors_in_order_then_the_registry() {
        let r = root(&[(
            "r.example/hosts.toml",
            r#"
            # the registry's own settings
            ca = "own.pem"
            skip_verify = false

            [host."https://z-mirror.example"]
              capabilities = ["pull", "resolve"]
              header = { X-A = "1", X-B = ["2", "3"] }
            [host."http://a-mirror:5000/cache"]
              capabilities = ["pull"]
              ca = ["/abs/ca.pem", "rel/ca.pem"]
              client = [["c.cert", "c.key"], "both.pem"]
              skip_verify = true
              dial_timeout = "2s"
            [host."b.example/custom"]
              override_path = true
            "#,
        )]);
        let dir = r.path().join("r.example");
        let h = load(r.path(), "r.example").unwrap().unwrap();
        assert_eq!(h.source, dir.join("hosts.toml"));
        let mut z = url("https://z-mirror.example").unwrap();
        z.path = "/v2".into();
        let mut a = url("http://a-mirror:5000").unwrap();
        a.path = "/cache/v2".into();
        let mut b = url("https://b.example").unwrap();
        b.path = "/custom".into();
        let want = vec![
            HostConfig {
                server: Some(z),
                pull: true,
                resolve: true,
                headers: vec![
                    ("X-A".into(), "1".into()),
                    ("X-B".into(), "2".into()),
                    ("X-B".into(), "3".into()),
                ],
                ..Default::default()
            },
            HostConfig {
                server: Some(a),
                pull: true,
                ca: vec!["/abs/ca.pem".into(), dir.join("rel/ca.pem")],
                client: vec![
                    (dir.join("c.cert"), Some(dir.join("c.key"))),
                    (dir.join("both.pem"), None),
                ],
                skip_verify: Some(true),
                dial_timeout: Some(Duration::from_secs(2)),
                ..Default::default()
            },
            HostConfig {
                server: Some(b),
                pull: true,
                resolve: true,
                push: true,
                ..Default::default()
            },
            HostConfig {
                server: None,
                pull: true,
                resolve: true,
                push: true,
                ca: vec![dir.join("own.pem")],
                skip_verify: Some(false),
                ..Default::default()
            },
        ];
        assert_eq!(h.hosts, want);
    }

    #[test]
    fn server_replaces_the_registry() {
        let r = root(&[(
            "_default/hosts.toml",
            "server = \"http://127.0.0.1:5000/v2/\"\ncapabilities = [\"pull\"]\n",
        )]);
        let h = load(r.path(), "x").unwrap().unwrap();
        let mut want = url("http://127.0.0.1:5000").unwrap();
        want.path = "/v2".into();
        assert_eq!(h.hosts.len(), 1);
        assert_eq!(h.hosts[0].server, Some(want));
        assert!(h.hosts[0].pull && !h.hosts[0].resolve && !h.hosts[0].push);
    }

    #[test]
    fn docker_certificate_files_without_hosts_toml() {
        let r = root(&[
            ("r:5000/ca.crt", ""),
            ("r:5000/b.crt", ""),
            ("r:5000/client.cert", ""),
            ("r:5000/client.key", ""),
            ("r:5000/other.cert", ""),
            // Empty: as if there were none.
            ("r:5000/hosts.toml", ""),
        ]);
        let d = r.path().join("r:5000");
        let h = load(r.path(), "r:5000").unwrap().unwrap();
        assert_eq!(h.source, d);
        assert_eq!(
            h.hosts,
            vec![HostConfig {
                pull: true,
                resolve: true,
                push: true,
                ca: vec![d.join("b.crt"), d.join("ca.crt")],
                client: vec![
                    (d.join("client.cert"), Some(d.join("client.key"))),
                    (d.join("other.cert"), None),
                ],
                ..Default::default()
            }]
        );
    }

    #[test]
    fn go_durations() {
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(go_duration("1s"), ms(1000));
        assert_eq!(go_duration("1.5s"), ms(1500));
        assert_eq!(go_duration("1m30s"), ms(90_000));
        assert_eq!(go_duration("500ms"), ms(500));
        assert_eq!(go_duration("2h"), ms(7_200_000));
        assert_eq!(go_duration("0"), ms(0));
        for bad in ["", "1", "s", "1x", "-1s", "1..5s", "soon"] {
            assert_eq!(go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn faults_name_the_line_and_key() {
        let cases = [
            ("server = \"a\"\nserver = \"b\"\n", "line 2: duplicate key"),
            (
                "[host.\"https://m\"]\ncapabilities = [\"pull\", \"pul\"]\n",
                "line 2: host.\"https://m\".capabilities: unknown capability \"pul\"",
            ),
            (
                "\n\nskip_verify = \"yes\"\n",
                "line 3: skip_verify: true or false is wanted, not string",
            ),
            (
                "[host.\"ftp://m\"]\n",
                "line 1: host.\"ftp://m\": \"ftp://m\" is not a host or an http(s) URL",
            ),
            (
                "[host.\"https://\"]\n",
                "line 1: host.\"https://\": \"https://\" is not a host",
            ),
            (
                "[host.\"m\"]\nclient = [[\"a\"]]\n",
                "line 2: host.\"m\".client: a pair is [certificate, key]",
            ),
            (
                "[host.\"m\"]\nca = 5\n",
                "line 2: host.\"m\".ca: a string is wanted, not integer",
            ),
            (
                "[host.\"m\".header]\n\"a b\" = \"x\"\n",
                "line 2: host.\"m\".header.a b: not a header name",
            ),
            ("host = 1\n", "line 1: host: not a table"),
            (
                "server = \"h\"\ndial_timeout = \"soon\"\n",
                "line 2: dial_timeout: \"soon\"",
            ),
            ("server = [\n", "line 1:"),
        ];
        for (text, want) in cases {
            let r = root(&[("h/hosts.toml", text)]);
            let e = load(r.path(), "h").unwrap_err();
            let file = r.path().join("h/hosts.toml");
            assert!(
                e.starts_with(&format!("hosts.toml {}: ", file.display())),
                "{e}"
            );
            assert!(e.contains(want), "{text:?}: {e}");
        }
        // Read as a small regular file.
        let r = root(&[]);
        std::fs::create_dir_all(r.path().join("h/hosts.toml")).unwrap();
        let e = load(r.path(), "h").unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
