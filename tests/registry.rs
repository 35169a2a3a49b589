//! The registry harness, checked with `ctr` as the client: the private
//! registries of `scripts/registry.sh` (plain HTTP and TLS, both with basic
//! auth, or a token server; blobs redirected to a file server) serve the
//! images `scripts/push-test-images.sh` pushed, to the test binary's
//! private containerd.

mod common;

use std::process::{Command, Output};

use common::*;

/// A namespace unique to this test and process.
fn ns(test: &str) -> String {
    format!("reg-{test}-{}", std::process::id())
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e} (run scripts/deps.sh)"))
}

/// `ctr images pull` of `reference` with `args` (credentials, transport, ...).
fn pull(ns: &str, args: &[String], reference: &str) -> Output {
    let mut cmd = Daemon::shared().ctr(ns);
    cmd.args(["images", "pull"]);
    // containerd 2.x's ctr pulls through the daemon's transfer service by
    // default, which fetches the manifests of every platform of an index;
    // --local pulls in ctr itself, as 1.x does (what the harness checks is
    // the registry, not ctr).
    if std::env::var("CTRD_CONTAINERD_VERSION").is_ok_and(|v| v.starts_with('2')) {
        cmd.arg("--local");
    }
    output(cmd.args(args).arg(reference))
}

#[track_caller]
fn pull_ok(ns: &str, args: &[String], reference: &str) {
    let out = pull(ns, args, reference);
    assert!(
        out.status.success(),
        "pull {reference} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[track_caller]
fn pull_err(ns: &str, args: &[String], reference: &str) -> String {
    let out = pull(ns, args, reference);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "pull {reference} succeeded: {err}");
    err
}

/// Digests of the blobs in the namespace's content store.
fn content(ns: &str) -> Vec<String> {
    run(Daemon::shared().ctr(ns).args(["content", "ls"]))
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// A blob of the namespace's content store, as JSON.
fn blob_json(ns: &str, digest: &str) -> serde_json::Value {
    let s = run(Daemon::shared().ctr(ns).args(["content", "get", digest]));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{digest}: {e}: {s}"))
}

/// The target digest of image `reference` in the namespace.
fn image_digest(ns: &str, reference: &str) -> String {
    let out = run(Daemon::shared().ctr(ns).args(["images", "ls"]));
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(reference))
        .unwrap_or_else(|| panic!("{reference} not in images ls:\n{out}"));
    line.split_whitespace().nth(2).unwrap().to_string()
}

/// This machine's OCI architecture.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no test image for {other}"),
    }
}

/// The platform other than this machine's in `ctrd/multi`.
fn other_arch() -> &'static str {
    if host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    }
}

#[test]
fn plain_http_pull_runs() {
    let reg = Registry::shared(false);
    let ns = ns("plain");
    let image = reg.reference("busybox:latest");
    pull_ok(&ns, &reg.ctr_args(), &image);
    // The exit status tells (ctr 1.6 under load sometimes loses a `run
    // --rm`'s output); the output, when there, is the command's.
    let out = output(Daemon::shared().ctr(&ns).args([
        "run",
        "--rm",
        &image,
        &format!("reg-run-{}", std::process::id()),
        "sh",
        "-c",
        "echo pulled; exit 5",
    ]));
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.is_empty() || text.trim() == "pulled", "{text}");
    // The registry really asks for credentials.
    let err = pull_err(&format!("{ns}-anon"), &["--plain-http".into()], &image);
    // 1.6 says "401 Unauthorized"; 1.7 and 2.x "no basic auth credentials".
    assert!(
        err.contains("401 Unauthorized") || err.contains("no basic auth credentials"),
        "{err}"
    );
}

#[test]
fn wrong_password_is_an_auth_error() {
    let reg = Registry::shared(false);
    let err = pull_err(
        &ns("badpw"),
        &reg.ctr_args_as(reg.user(), "not-the-password"),
        &reg.reference("busybox:latest"),
    );
    assert!(err.contains("401 Unauthorized"), "{err}");
}

#[test]
fn unknown_tag_is_not_found() {
    let reg = Registry::shared(false);
    let reference = reg.reference("busybox:no-such-tag");
    let err = pull_err(&ns("notag"), &reg.ctr_args(), &reference);
    assert!(err.contains(&format!("{reference}: not found")), "{err}");
}

#[test]
fn tls_pull_with_the_ca() {
    let reg = Registry::shared(true);
    let ca = reg.ca_file().expect("a CA with TLS");
    assert!(std::fs::read_to_string(&ca)
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    let ns = ns("tls");
    let image = reg.reference("busybox:latest");
    pull_ok(&ns, &reg.ctr_args(), &image);
    let out = run(Daemon::shared().ctr(&ns).args([
        "run",
        "--rm",
        &image,
        &format!("reg-tls-{}", std::process::id()),
        "true",
    ]));
    assert_eq!(out, "");

    // Without the CA the server's certificate is not trusted.
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join(reg.host());
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(
        hosts.join("hosts.toml"),
        format!(
            "server = \"https://{h}\"\n[host.\"https://{h}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            h = reg.host()
        ),
    )
    .unwrap();
    let args = [
        "--user".to_string(),
        format!("{}:{}", reg.user(), reg.password()),
        "--hosts-dir".into(),
        dir.path().to_str().unwrap().into(),
    ];
    let err = pull_err(&format!("{ns}-noca"), &args, &image);
    assert!(
        err.contains("x509: certificate signed by unknown authority"),
        "{err}"
    );
    // Nor does it speak plain HTTP.
    let args = [args[0].clone(), args[1].clone(), "--plain-http".into()];
    let err = pull_err(&format!("{ns}-http"), &args, &image);
    assert!(err.contains("400 Bad Request"), "{err}");
}

/// The manifests of `ctrd/multi` by architecture, read from the index the
/// pull stored in `ns`.
fn multi_manifests(ns: &str, reference: &str) -> Vec<(String, String)> {
    let index = blob_json(ns, &image_digest(ns, reference));
    index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"].as_str().unwrap().to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The platform of manifest `m` was not pulled into `ns` (`have` is its
/// content). containerd 2.x fetches every manifest of an index, but not
/// their layers; 1.x fetches only the chosen manifest.
#[track_caller]
fn assert_not_pulled(ns: &str, have: &[String], m: &str, arch: &str) {
    let all_manifests = std::env::var("CTRD_CONTAINERD_VERSION").is_ok_and(|v| v.starts_with('2'));
    if all_manifests && have.iter().any(|d| d == m) {
        let manifest = blob_json(ns, m);
        for l in manifest["layers"].as_array().unwrap() {
            let digest = l["digest"].as_str().unwrap();
            assert!(
                !have.iter().any(|d| d == digest),
                "a layer of the {arch} manifest was fetched"
            );
        }
    } else {
        assert!(!have.iter().any(|d| d == m), "{arch} manifest fetched");
    }
}

#[test]
fn multi_platform_index_picks_the_platform() {
    let reg = Registry::shared(false);
    let image = reg.reference("multi:latest");
    let digest_of = |ms: &[(String, String)], arch: &str| {
        ms.iter()
            .find(|(a, _)| a == arch)
            .unwrap_or_else(|| panic!("no {arch} in {ms:?}"))
            .1
            .clone()
    };

    // Default: this machine's platform only.
    let ns_host = ns("multi-host");
    pull_ok(&ns_host, &reg.ctr_args(), &image);
    let ms = multi_manifests(&ns_host, &image);
    assert_eq!(ms.len(), 2, "{ms:?}");
    let (host_m, other_m) = (digest_of(&ms, host_arch()), digest_of(&ms, other_arch()));
    let have = content(&ns_host);
    assert!(
        have.contains(&host_m),
        "{} manifest not fetched",
        host_arch()
    );
    assert_not_pulled(&ns_host, &have, &other_m, other_arch());
    ctr_run_check(
        Daemon::shared().ctr(&ns_host).args([
            "run",
            "--rm",
            &image,
            &format!("reg-multi-{}", std::process::id()),
        ]),
        &format!("[ \"$(uname -m)\" = {} ]", std::env::consts::ARCH),
    );

    // --platform linux/<other>: that manifest and its layer, not this one's.
    let ns_other = ns("multi-other");
    let platform = format!("linux/{}", other_arch());
    let mut args = reg.ctr_args();
    args.extend(["--platform".to_string(), platform]);
    pull_ok(&ns_other, &args, &image);
    let have = content(&ns_other);
    assert!(
        have.contains(&other_m),
        "{} manifest not fetched",
        other_arch()
    );
    assert_not_pulled(&ns_other, &have, &host_m, host_arch());
    let manifest = blob_json(&ns_other, &other_m);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert!(have.contains(&layers[0]["digest"].as_str().unwrap().to_string()));
    let config = blob_json(&ns_other, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["architecture"], other_arch());
}

#[test]
fn layered_image_has_several_layers() {
    let reg = Registry::shared(false);
    let ns = ns("layers");
    let image = reg.reference("layers:latest");
    pull_ok(&ns, &reg.ctr_args(), &image);
    let manifest = blob_json(&ns, &image_digest(&ns, &image));
    let layers = manifest["layers"].as_array().expect("a manifest");
    assert!(layers.len() >= 4, "{} layers", layers.len());
    let total: u64 = layers.iter().map(|l| l["size"].as_u64().unwrap()).sum();
    assert!(total > 4 << 20, "only {total} bytes of layers");
    let have = content(&ns);
    for l in layers {
        assert!(have.contains(&l["digest"].as_str().unwrap().to_string()));
    }
    // Checked inside and told by the exit status: ctr 1.6 under load
    // sometimes loses a `run --rm`'s output, never its exit status.
    let out = output(Daemon::shared().ctr(&ns).args([
        "run",
        "--rm",
        &image,
        &format!("reg-layers-{}", std::process::id()),
        "sh",
        "-c",
        "[ \"$(ls /data | tr '\\n' ' ')\" = '1.bin 2.bin 3.bin 4.bin ' ] && \
         [ $(wc -c < /data/4.bin) -eq 1572864 ] && exit 7",
    ]));
    assert_eq!(
        out.status.code(),
        Some(7),
        "the layers' files are not all there: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn owned_registry_stops_on_drop() {
    let reg = Registry::start(false);
    let pid = reg.pid().expect("registry.pid");
    let dir = reg.dir.clone();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.contains(dir.join("config.yml").to_str().unwrap()));
    assert_eq!(
        std::fs::read_to_string(dir.join("creds")).unwrap().trim(),
        "ctrd:ctrd-secret"
    );
    assert!(reg.ca_file().is_none());
    drop(reg);
    assert!(!dir.exists(), "{} left", dir.display());
    // Gone (or a zombie until its new parent reaps it).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.rsplit(") ").next().unwrap().starts_with('Z'),
        "registry {pid} still runs"
    );
}

/// The other modes of `registry.sh`, `--token` (a token server of the
/// harness) and `--redirect` (blobs from a file server), as ctr sees them:
/// ctr pulls with the token server's tokens and fetches the blobs from the
/// file server; a wrong password is refused; the pull-only user pulls but
/// gets no push scope (so a push fails); the servers stop with the
/// registry.
#[test]
fn token_and_redirect_modes_as_ctr_sees_them() {
    let reg = Registry::start_with(&["--token", "--redirect"]);
    // A daemon of its own: every blob is fetched.
    let daemon = Daemon::start();
    let ns = ns("modes");
    let ctr_pull = |args: &[String], reference: &str| {
        let mut cmd = daemon.ctr(&ns);
        cmd.args(["images", "pull"]);
        if std::env::var("CTRD_CONTAINERD_VERSION").is_ok_and(|v| v.starts_with('2')) {
            cmd.arg("--local");
        }
        output(cmd.args(args).arg(reference))
    };
    let image = reg.reference("layers:latest");
    let out = ctr_pull(&reg.ctr_args(), &image);
    assert!(out.status.success(), "{out:?}");
    let by_ctr = |log: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        log.into_iter()
            .filter(|e| {
                e["headers"]["user-agent"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("containerd/"))
            })
            .collect()
    };
    let stored: Vec<_> = by_ctr(reg.storage_log())
        .into_iter()
        .filter(|e| e["method"] == "GET")
        .collect();
    assert_eq!(stored.len(), 6, "{stored:?}");
    assert!(stored.iter().all(|e| e["status"] == 200), "{stored:?}");
    let tokens = by_ctr(reg.issuer_log());
    assert!(
        tokens.iter().any(|e| e["user"] == "ctrd"
            && e["status"] == 200
            && e["scopes"]
                .as_array()
                .unwrap()
                .contains(&"repository:ctrd/layers:pull".into())),
        "{tokens:?}"
    );

    let out = ctr_pull(
        &reg.ctr_args_as(reg.user(), "wrong"),
        &reg.reference("busybox:latest"),
    );
    assert!(!out.status.success(), "{out:?}");

    let ro = reg.ctr_args_as(reg.read_only_user(), reg.password());
    let out = ctr_pull(&ro, &reg.reference("busybox:latest"));
    assert!(out.status.success(), "{out:?}");
    let target = reg.reference("pushed-by-ro:latest");
    let out = output(
        daemon
            .ctr(&ns)
            .args(["images", "push"])
            .args(&ro)
            .arg(&target)
            .arg(reg.reference("busybox:latest")),
    );
    assert!(!out.status.success(), "the pull-only user pushed: {out:?}");
    let asked = reg.issuer_log();
    let push_scope = "repository:ctrd/pushed-by-ro:pull,push";
    let for_push: Vec<_> = asked
        .iter()
        .filter(|e| {
            e["user"] == "ctrd-ro" && e["scopes"].as_array().unwrap().contains(&push_scope.into())
        })
        .collect();
    assert!(!for_push.is_empty(), "{asked:?}");
    for e in for_push {
        let granted = e["granted"].as_array().unwrap();
        assert!(
            granted
                .iter()
                .all(|g| g["actions"] == serde_json::json!(["pull"])),
            "{e}"
        );
    }

    let pids: Vec<u32> = ["issuer.pid", "storage.pid"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(reg.dir.join(f))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    let dir = reg.dir.clone();
    drop(reg);
    assert!(!dir.exists(), "{} left", dir.display());
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.rsplit(") ").next().unwrap().starts_with('Z'),
            "sidecar {pid} still runs"
        );
    }
}
