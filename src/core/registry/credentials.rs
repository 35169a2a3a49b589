//! Where a pull's credentials come from: the caller's options, else the
//! docker config (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`):
//! its credential helpers (`credHelpers`, `credsStore`), run with a time
//! limit, else its `auths` entry for the registry, matched as docker
//! matches the keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::core::error::{Code, Error, Result};
use crate::core::files::read_small;
use crate::core::registry::RemoteOptions;

/// What a pull authenticates with.
#[derive(Clone)]
pub(super) enum Credentials {
    Anonymous,
    /// A username and password: sent as basic credentials to the registry,
    /// or to the token realm.
    Basic(String, String),
    /// An identity token (a username of "", docker's `identitytoken`):
    /// exchanged at the realm for a bearer token, as an OAuth2 refresh
    /// token.
    IdentityToken(String),
}

/// How long a credential helper may take to answer, as an external
/// program asked for a secret may hang (a keychain waiting for a prompt).
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// Most of a credential helper's answer read.
const MAX_HELPER_ANSWER: u64 = 1 << 20;

/// Where the credentials not in the options come from: the docker config,
/// and how long its credential helpers may take.
#[derive(Clone)]
pub(super) struct DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (none
    /// without either variable).
    file: Option<PathBuf>,
    helper_timeout: Duration,
    /// The directory of the credential helpers; `None`: found on `PATH`.
    helpers_in: Option<PathBuf>,
}

impl DockerConfig {
    /// The config the environment names, as docker finds it.
    pub(super) fn from_env() -> DockerConfig {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")));
        #[allow(unused_mut)]
        let mut helper_timeout = HELPER_TIMEOUT;
        // The tests' (of the C functions) helpers that never answer.
        #[cfg(feature = "test-hooks")]
        if let Some(ms) = std::env::var("CTRD_TEST_HELPER_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            helper_timeout = Duration::from_millis(ms);
        }
        DockerConfig {
            file: dir.map(|d| d.join("config.json")),
            helper_timeout,
            helpers_in: None,
        }
    }
}

/// What of a docker config file this library reads.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: Option<BTreeMap<String, AuthEntry>>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: Option<BTreeMap<String, String>>,
}

/// An entry of `auths`.
#[derive(serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// What docker calls registry `host` in its config (and asks a credential
/// helper for): docker.io's is its v1 index URL, any other its name.
fn server_address(host: &str) -> String {
    if is_docker_hub(host) {
        "https://index.docker.io/v1/".to_string()
    } else {
        host.to_string()
    }
}

fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// The registry a docker config key names, as docker's
/// `ConvertToHostname`: without an `http://` or `https://` and anything
/// from the first `/` on (`https://r.example:5000/v2/` is
/// `r.example:5000`).
fn config_key_host(key: &str) -> &str {
    let s = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
        .unwrap_or(key);
    s.split('/').next().unwrap_or(s)
}

/// Whether config key `key` names registry `host` (docker.io by any of
/// its names).
fn key_names(key: &str, host: &str) -> bool {
    let named = config_key_host(key);
    named == host || (is_docker_hub(named) && is_docker_hub(host))
}

/// The credentials for `host`: the options' when given, else the docker
/// config's (its `credHelpers` for the host, else its `credsStore`, else
/// its `auths` entry), else anonymous. A config that cannot be read or is
/// not a docker config is an error naming it; so is a credential helper
/// that fails or does not answer in time. Runs credential helpers, so call
/// it off the runtime's threads.
pub(super) fn credentials(
    opts: &RemoteOptions,
    host: &str,
    what: &str,
    config: &DockerConfig,
) -> Result<Credentials> {
    match (&opts.username, &opts.secret) {
        (Some(user), Some(secret)) if user.is_empty() => {
            return Ok(Credentials::IdentityToken(secret.clone()))
        }
        (Some(user), Some(secret)) => return Ok(Credentials::Basic(user.clone(), secret.clone())),
        (Some(_), None) => {
            return Err(Error::invalid(format!(
                "{what}: a username without a secret"
            )))
        }
        (None, Some(_)) => {
            return Err(Error::invalid(format!(
                "{what}: a secret without a username (\"\" for an identity token)"
            )))
        }
        (None, None) => {}
    }
    let Some(file) = &config.file else {
        return Ok(Credentials::Anonymous);
    };
    let shown = file.display();
    let Some(bytes) = read_small(file, "the docker config").map_err(|e| e.context(what))? else {
        return Ok(Credentials::Anonymous);
    };
    let parsed: ConfigFile = serde_json::from_slice(&bytes).map_err(|e| {
        Error::invalid(format!(
            "{what}: the docker config {shown}: not a docker config: {e}"
        ))
    })?;
    let server = server_address(host);
    let helpers = parsed.cred_helpers.unwrap_or_default();
    let helper = helpers
        .get(&server)
        .or_else(|| {
            helpers
                .iter()
                .find(|(k, _)| key_names(k, host))
                .map(|(_, h)| h)
        })
        .or(parsed.creds_store.as_ref())
        .filter(|h| !h.is_empty());
    if let Some(helper) = helper {
        return from_helper(helper, &server, config)
            .map_err(|e| e.context(format!("{what}: credentials for {host} from {shown}")));
    }
    let auths = parsed.auths.unwrap_or_default();
    let entry = auths.get(&server).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| key_names(k, host))
            .map(|(_, e)| e)
    });
    let Some(entry) = entry else {
        return Ok(Credentials::Anonymous);
    };
    let given = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    if let Some(token) = given(&entry.identitytoken) {
        return Ok(Credentials::IdentityToken(token));
    }
    if let Some(auth) = given(&entry.auth) {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let pair = engine
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        return match pair.as_deref().and_then(|p| p.split_once(':')) {
            Some((user, password)) => Ok(Credentials::Basic(user.into(), password.into())),
            None => Err(Error::invalid(format!(
                "{what}: the docker config {shown}: the auth of {host} is not base64 of \"user:password\""
            ))),
        };
    }
    match (given(&entry.username), given(&entry.password)) {
        (Some(user), Some(password)) => Ok(Credentials::Basic(user, password)),
        _ => Ok(Credentials::Anonymous),
    }
}

/// The credentials credential helper `docker-credential-{helper}` has for
/// `server`, anonymous when it has none. The helper (and whatever it
/// started) is killed when it takes longer than the config's limit.
fn from_helper(helper: &str, server: &str, config: &DockerConfig) -> Result<Credentials> {
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let program = format!("docker-credential-{helper}");
    let failed = |why: String| {
        Error::new(
            Code::Unauthenticated,
            format!("credential helper {program}: {why}"),
        )
    };
    let limit = config.helper_timeout;
    let path = match &config.helpers_in {
        Some(dir) => dir.join(&program),
        None => PathBuf::from(&program),
    };
    // The address goes in a pipe before the helper starts: a write to a
    // helper that exited without reading it cannot raise SIGPIPE.
    // (The address is a host name: far less than a pipe holds.)
    let (stdin, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| failed(format!("a pipe: {e}")))?;
    std::fs::File::from(writer)
        .write_all(server.as_bytes())
        .map_err(|e| failed(format!("a pipe: {e}")))?;
    let mut child = Command::new(path)
        .arg("get")
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group: a timeout kills all it started.
        .process_group(0)
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let kill = |child: &mut std::process::Child| {
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
    };
    // Its answer, read on a thread so that waiting for it has a limit.
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(stdout) = stdout {
            let _ = stdout.take(MAX_HELPER_ANSWER + 1).read_to_end(&mut out);
        }
        let _ = tx.send(out);
    });
    let deadline = Instant::now() + limit;
    let late = || {
        failed(format!(
            "no answer for {server} in {}s",
            limit.as_secs_f64()
        ))
    };
    let Ok(out) = rx.recv_timeout(limit) else {
        kill(&mut child);
        return Err(late());
    };
    if out.len() as u64 > MAX_HELPER_ANSWER {
        kill(&mut child);
        return Err(failed("an answer of more than 1 MiB".into()));
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                kill(&mut child);
                return Err(late());
            }
            Err(e) => {
                kill(&mut child);
                return Err(failed(e.to_string()));
            }
        }
    };
    let text = String::from_utf8_lossy(&out);
    if !status.success() {
        // Helpers say "credentials not found in native keychain": anonymous,
        // as docker.
        if text.contains("credentials not found") {
            return Ok(Credentials::Anonymous);
        }
        let first = text.lines().next().unwrap_or("").trim();
        return Err(failed(format!("{status}: {first}")));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        #[serde(default)]
        username: String,
        #[serde(default)]
        secret: String,
    }
    let answer: Answer = serde_json::from_slice(&out)
        .map_err(|e| failed(format!("its answer is not JSON credentials: {e}")))?;
    Ok(match (answer.username.as_str(), answer.secret) {
        (_, secret) if secret.is_empty() => Credentials::Anonymous,
        ("<token>", token) => Credentials::IdentityToken(token),
        (_, secret) => Credentials::Basic(answer.username, secret),
    })
}

/// A docker config in a directory of its own, with credential helpers
/// there too, each `(name, script)`; helpers time out after 300 ms.
#[cfg(test)]
pub(super) fn docker_config(
    dir: &Path,
    json: Option<&str>,
    helpers: &[(&str, &str)],
) -> DockerConfig {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("config.json");
    if let Some(json) = json {
        std::fs::write(&file, json).unwrap();
    }
    for (name, script) in helpers {
        let path = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    DockerConfig {
        file: Some(file),
        helper_timeout: Duration::from_millis(300),
        helpers_in: Some(dir.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(c: &Result<Credentials>) -> String {
        match c {
            Ok(Credentials::Anonymous) => "anonymous".into(),
            Ok(Credentials::Basic(u, p)) => format!("basic {u}:{p}"),
            Ok(Credentials::IdentityToken(t)) => format!("token {t}"),
            Err(e) => format!("{:?} {}", e.code, e.message),
        }
    }

    /// `auths` keys name their registry as docker's do: scheme and path
    /// left out, docker.io by its index URL or any of its names.
    #[test]
    fn config_keys_are_matched_as_docker_does() {
        assert_eq!(server_address("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(server_address("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(
            config_key_host("https://r.example:5000/v2/"),
            "r.example:5000"
        );
        assert_eq!(config_key_host("http://r.example"), "r.example");
        assert_eq!(config_key_host("r.example/x"), "r.example");
        let dir = tempfile::tempdir().unwrap();
        let anonymous = RemoteOptions::default();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cases = [
            ("https://r.example:5000/v2/", "r.example:5000", "basic u:p"),
            ("http://r.example:5000", "r.example:5000", "basic u:p"),
            ("r.example:5000", "r.example:5000", "basic u:p"),
            ("r.example:5000", "r.example", "anonymous"),
            ("https://r.example", "r.example:5000", "anonymous"),
            ("https://index.docker.io/v1/", "docker.io", "basic u:p"),
            ("docker.io", "docker.io", "basic u:p"),
            ("https://registry-1.docker.io/v2/", "docker.io", "basic u:p"),
            ("https://index.docker.io/v1/", "quay.io", "anonymous"),
        ];
        for (i, (key, host, want)) in cases.into_iter().enumerate() {
            let json = format!(r#"{{"auths":{{"{key}":{{"auth":"{}"}}}}}}"#, b64("u:p"));
            let config = docker_config(&dir.path().join(i.to_string()), Some(&json), &[]);
            let got = credentials(&anonymous, host, "p", &config);
            assert_eq!(shown(&got), want, "{key} for {host}");
        }
    }

    /// A docker config that cannot be used says which file and why; a
    /// missing one is anonymous.
    #[test]
    fn a_bad_docker_config_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let opts = RemoteOptions::default();
        let config = docker_config(&dir.path().join("none"), None, &[]);
        assert_eq!(shown(&credentials(&opts, "h", "p", &config)), "anonymous");
        type Make = Box<dyn Fn(&Path)>;
        let cases: [(&str, Make, &str); 5] = [
            (
                "malformed",
                Box::new(|f| std::fs::write(f, "{\"auths\": ").unwrap()),
                "not a docker config: EOF while parsing",
            ),
            (
                "wrong types",
                Box::new(|f| std::fs::write(f, r#"{"auths":["h"]}"#).unwrap()),
                "not a docker config: invalid type",
            ),
            (
                "a directory",
                Box::new(|f| std::fs::create_dir(f).unwrap()),
                ": not a regular file",
            ),
            (
                "/dev/zero",
                Box::new(|f| std::os::unix::fs::symlink("/dev/zero", f).unwrap()),
                ": not a regular file",
            ),
            (
                "bad base64",
                Box::new(|f| std::fs::write(f, r#"{"auths":{"h":{"auth":"!!"}}}"#).unwrap()),
                "the auth of h is not base64",
            ),
        ];
        for (i, (case, make, why)) in cases.into_iter().enumerate() {
            let config = docker_config(&dir.path().join(i.to_string()), None, &[]);
            let file = config.file.clone().unwrap();
            make(&file);
            let e = credentials(&opts, "h", "pull \"h/a\"", &config)
                .err()
                .unwrap();
            assert_eq!(e.code, Code::InvalidArgument, "{case}: {}", e.message);
            assert!(
                e.message.starts_with(&format!(
                    "pull \"h/a\": the docker config {}",
                    file.display()
                )) && e.message.contains(why),
                "{case}: {}",
                e.message
            );
        }
    }

    /// Credential helpers: asked for the registry, their `<token>` an
    /// identity token, "credentials not found" anonymous; one that fails
    /// or never answers is an error naming it, and one that never answers
    /// is killed with what it started.
    #[test]
    fn credential_helpers_are_asked_with_a_time_limit() {
        let dir = tempfile::tempdir().unwrap();
        let opts = RemoteOptions::default();
        let answer = |json: &str| {
            format!("#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread -r s\n[ \"$s\" = h ] || exit 4\necho '{json}'\n")
        };
        let pair = answer(r#"{"ServerURL":"h","Username":"u","Secret":"p"}"#);
        let token = answer(r#"{"ServerURL":"h","Username":"<token>","Secret":"t"}"#);
        let none = "#!/bin/sh\necho 'credentials not found in native keychain'\nexit 1\n";
        let broken = "#!/bin/sh\necho 'the keychain is locked'\nexit 1\n";
        let pid = dir.path().join("sleeper.pid");
        let forever = format!(
            "#!/bin/sh\nsleep 1000 &\necho $! > {}\nwait\n",
            pid.display()
        );
        let helpers = [
            ("pair", pair.as_str()),
            ("token", token.as_str()),
            ("none", none),
            ("broken", broken),
            ("forever", forever.as_str()),
            ("big", "#!/bin/sh\nhead -c 2000000 /dev/zero\n"),
        ];
        let cases = [
            (r#"{"credsStore":"pair"}"#, "basic u:p"),
            (r#"{"credHelpers":{"h":"token"},"credsStore":"broken"}"#, "token t"),
            (r#"{"credsStore":"none","auths":{"h":{"auth":"dTpw"}}}"#, "anonymous"),
            (
                r#"{"credsStore":"broken"}"#,
                "Unauthenticated pull: credentials for h from CONFIG: \
                 credential helper docker-credential-broken: exit status: 1: the keychain is locked",
            ),
            (
                r#"{"credsStore":"missing"}"#,
                "Unauthenticated pull: credentials for h from CONFIG: \
                 credential helper docker-credential-missing: No such file or directory (os error 2)",
            ),
            (
                r#"{"credsStore":"big"}"#,
                "Unauthenticated pull: credentials for h from CONFIG: \
                 credential helper docker-credential-big: an answer of more than 1 MiB",
            ),
        ];
        for (i, (json, want)) in cases.into_iter().enumerate() {
            let config = docker_config(&dir.path().join(i.to_string()), Some(json), &helpers);
            let file = config.file.as_ref().unwrap().display().to_string();
            let got = shown(&credentials(&opts, "h", "pull", &config));
            assert_eq!(got, want.replace("CONFIG", &file), "{json}");
        }

        // One that never answers: killed after the limit, and the sleep it
        // started too.
        let config = docker_config(
            &dir.path().join("forever"),
            Some(r#"{"credsStore":"forever"}"#),
            &helpers,
        );
        let start = Instant::now();
        let got = shown(&credentials(&opts, "h", "pull", &config));
        let took = start.elapsed();
        eprintln!("a helper that never answers: {took:?}");
        assert!(
            got.starts_with("Unauthenticated pull: credentials for h from ")
                && got.ends_with(
                    "credential helper docker-credential-forever: no answer for h in 0.3s"
                ),
            "{got}"
        );
        assert!(took < Duration::from_secs(3), "{took:?}");
        let sleeper = std::fs::read_to_string(&pid).unwrap();
        let gone = || {
            std::fs::read_to_string(format!("/proc/{}/stat", sleeper.trim()))
                .map_or(true, |stat| stat.contains(") Z "))
        };
        let start = Instant::now();
        while !gone() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone(), "the helper's sleep {sleeper} still runs");
    }
}
