//! Default specs against the real thing: the spec `ctr containers create`
//! (containerd 1.6's Go client) makes for an image must equal the one
//! `default_spec` + `apply_image_config` make from the same image config,
//! for the test image and for derived images with a `User`, entrypoint, env
//! and working dir; and containerd must take our JSON as it is.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use common::{run, Daemon, IMAGE};
use containerd_c::core::{container::spec, Client};
use containerd_c::ffi::{ctrd_client_free, ctrd_spec_generate, ctrd_status};
use containerd_c::Code;
use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::Spec;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const NS: &str = "default";

/// The shared daemon, with the test image imported into `default` once.
fn daemon() -> &'static Daemon {
    static IMPORTED: OnceLock<&'static Daemon> = OnceLock::new();
    IMPORTED.get_or_init(|| {
        let d = Daemon::shared();
        d.import_image(NS);
        d
    })
}

/// The default-spec differences of the test daemon's version.
fn defaults() -> spec::Defaults {
    static DEFAULTS: OnceLock<spec::Defaults> = OnceLock::new();
    *DEFAULTS.get_or_init(|| {
        let address = daemon().address();
        let (version, _) = containerd_c::runtime::block_on(async move {
            Client::connect(Some(&address), Some(NS))?
                .server_version()
                .await
        })
        .expect("the daemon's version");
        spec::Defaults::for_daemon(&version)
    })
}

/// A container id unique in this binary.
fn unique_id(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "spec-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A container made with `ctr`, removed (with its snapshot) on drop.
struct CtrContainer {
    id: String,
}

impl CtrContainer {
    /// `ctr containers create [extra...] ARGS...`; `args` end with the
    /// image and id (or only the id with `--config`), then the command.
    fn create(id: &str, args: &[&str]) -> CtrContainer {
        run(daemon().ctr(NS).args(["containers", "create"]).args(args));
        CtrContainer { id: id.to_string() }
    }

    /// The spec containerd stores for it, as JSON.
    fn spec_json(&self) -> String {
        run(daemon()
            .ctr(NS)
            .args(["containers", "info", "--spec", &self.id]))
    }
}

impl Drop for CtrContainer {
    fn drop(&mut self) {
        let _ = daemon()
            .ctr(NS)
            .args(["containers", "rm", &self.id])
            .output();
    }
}

/// A spec JSON as a value with the capability lists sorted (oci-spec keeps
/// capabilities as sets, so their order is not ours to keep; `to_json`
/// sorts them by name, containerd prints them in its own order).
fn normalized(json: &str) -> Value {
    let mut v: Value = serde_json::from_str(json).expect("spec JSON");
    if let Some(Value::Object(caps)) = v.pointer_mut("/process/capabilities") {
        for list in caps.values_mut() {
            if let Value::Array(items) = list {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    v
}

/// Asserts two spec JSONs are equal, printing both when not.
#[track_caller]
fn assert_same_spec(ctr: &str, ours: &str) {
    let (c, o) = (normalized(ctr), normalized(ours));
    assert!(
        c == o,
        "ctr's spec and ours differ\nctr:  {}\nours: {}",
        serde_json::to_string_pretty(&c).unwrap(),
        serde_json::to_string_pretty(&o).unwrap()
    );
}

/// One member of a tar archive (`None` when it has no such member).
fn tar_member(archive: &Path, member: &str) -> Option<Vec<u8>> {
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg(member)
        .output()
        .expect("running tar");
    out.status.success().then_some(out.stdout)
}

fn sha256_hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

/// An OCI image layout unpacked in a directory: its manifest, config and
/// layer files.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.dir.join("blobs/sha256").join(hex)
    }

    fn json(&self, digest: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.blob_path(digest)).unwrap()).unwrap()
    }

    /// Writes a blob; returns its digest and size.
    fn put(&self, data: &[u8]) -> (String, usize) {
        let digest = format!("sha256:{}", sha256_hex(data));
        std::fs::write(self.blob_path(&digest), data).unwrap();
        (digest, data.len())
    }

    fn manifest(&self) -> Value {
        let index: Value =
            serde_json::from_slice(&std::fs::read(self.dir.join("index.json")).unwrap()).unwrap();
        self.json(index["manifests"][0]["digest"].as_str().unwrap())
    }

    fn config(&self) -> Value {
        self.json(self.manifest()["config"]["digest"].as_str().unwrap())
    }

    /// `path` (e.g. `etc/passwd`) from the topmost layer that has it.
    fn file(&self, path: &str) -> Option<String> {
        let manifest = self.manifest();
        let layers = manifest["layers"].as_array().unwrap();
        layers.iter().rev().find_map(|l| {
            let blob = self.blob_path(l["digest"].as_str().unwrap());
            tar_member(&blob, path).map(|b| String::from_utf8(b).unwrap())
        })
    }
}

/// The test image archive unpacked in a fresh temp dir.
fn unpack_test_image() -> (tempfile::TempDir, Layout) {
    let tmp = tempfile::tempdir().unwrap();
    run(Command::new("tar")
        .arg("-xf")
        .arg(common::image_tar())
        .arg("-C")
        .arg(tmp.path()));
    let layout = Layout {
        dir: tmp.path().to_path_buf(),
    };
    (tmp, layout)
}

/// Everything `apply_image_config` needs about an image.
struct ImageFacts {
    config: ImageConfiguration,
    passwd: Option<String>,
    group: Option<String>,
}

impl ImageFacts {
    fn of(layout: &Layout) -> ImageFacts {
        ImageFacts {
            config: serde_json::from_value(layout.config()).expect("image config"),
            passwd: layout.file("etc/passwd"),
            group: layout.file("etc/group"),
        }
    }

    /// Our spec for container `id` of this image.
    fn spec(&self, id: &str) -> containerd_c::Result<Spec> {
        let mut s = spec::default_spec(&defaults(), NS, id)?;
        spec::apply_image_config(
            &mut s,
            &self.config,
            self.passwd.as_deref(),
            self.group.as_deref(),
        )?;
        Ok(s)
    }
}

/// The /etc/passwd and /etc/group of the extra layer of derived images:
/// users and groups with supplementary members, so that user resolution and
/// additional gids are put to the test.
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
    nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
    app:x:1000:1001:App:/home/app:/bin/sh\n";
const GROUP: &str = "root:x:0:\n\
    wheel:x:10:root,app\n\
    staff:x:50:app\n\
    app:x:1001:app\n\
    nogroup:x:65534:\n\
    audio:x:29:nobody,root\n";

/// Builds and imports (once per name) an image derived from the test image:
/// its layer plus one holding [`PASSWD`] and [`GROUP`], with `config` merged
/// into the image config's `config`. Returns the image name and the layout
/// it was built from.
fn derived_image(tag: &str, config: Value) -> (String, tempfile::TempDir, Layout) {
    derived_image_with(tag, config, |root| {
        std::fs::create_dir(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(root.join("etc/group"), GROUP).unwrap();
    })
}

/// As [`derived_image`], the extra layer holding what `fill` puts in the
/// directory it is given.
fn derived_image_with(
    tag: &str,
    config: Value,
    fill: impl FnOnce(&Path),
) -> (String, tempfile::TempDir, Layout) {
    let (tmp, layout) = unpack_test_image();
    let name = format!("docker.io/library/ctrd-spec-test:{tag}");

    // The extra layer, uncompressed (its digest is its diff id).
    let files = tempfile::tempdir().unwrap();
    let root = files.path().join("root");
    std::fs::create_dir(&root).unwrap();
    fill(&root);
    let mut top: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    top.sort();
    let layer_tar = files.path().join("layer.tar");
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
        ])
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&layer_tar)
        .args(&top));
    let (layer_digest, layer_size) = layout.put(&std::fs::read(&layer_tar).unwrap());

    let mut image_config = layout.config();
    image_config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(json!(layer_digest));
    let Value::Object(extra) = config else {
        panic!("config must be an object")
    };
    for (k, v) in extra {
        image_config["config"][k] = v;
    }
    let (config_digest, config_size) = layout.put(&serde_json::to_vec(&image_config).unwrap());

    let mut manifest = layout.manifest();
    manifest["config"]["digest"] = json!(config_digest);
    manifest["config"]["size"] = json!(config_size);
    manifest["layers"].as_array_mut().unwrap().push(json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar",
        "digest": layer_digest,
        "size": layer_size,
    }));
    let (manifest_digest, manifest_size) = layout.put(&serde_json::to_vec(&manifest).unwrap());

    let mut index: Value =
        serde_json::from_slice(&std::fs::read(layout.dir.join("index.json")).unwrap()).unwrap();
    let entry = &mut index["manifests"][0];
    entry["digest"] = json!(manifest_digest);
    entry["size"] = json!(manifest_size);
    entry["annotations"]["io.containerd.image.name"] = json!(name);
    entry["annotations"]["org.opencontainers.image.ref.name"] = json!(tag);
    // Compact: import-image.sh reads the name with sed.
    std::fs::write(
        layout.dir.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();

    let archive = files.path().join("image.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&layout.dir)
        .arg("-cf")
        .arg(&archive)
        .args(["oci-layout", "index.json", "blobs"]));
    run(Command::new(common::repo().join("scripts/import-image.sh"))
        .arg(&daemon().socket)
        .arg(NS)
        .arg(&archive));
    (name, tmp, layout)
}

#[test]
fn ctr_spec_for_the_test_image_equals_ours() {
    let d = daemon();
    let (_tmp, layout) = unpack_test_image();
    let facts = ImageFacts::of(&layout);
    assert!(facts.passwd.is_some() && facts.group.is_some());

    let id = unique_id("plain");
    let c = CtrContainer::create(&id, &[IMAGE, &id]);
    let ctr_json = c.spec_json();
    let ours = facts.spec(&id).unwrap();
    assert_same_spec(&ctr_json, &spec::to_json(&ours).unwrap());

    // The ctr-made spec parses, to the very same spec.
    let parsed = spec::parse(&ctr_json).unwrap();
    assert_eq!(parsed, ours);

    // And the C API makes it too, with the defaults of this daemon's
    // version (ociVersion, masked paths), asked of the daemon itself.
    let client = common::connect(&d.address(), NS);
    let mut json = std::ptr::null_mut();
    let cid = common::c(&id);
    let image = common::c(IMAGE);
    common::check(
        ctrd_spec_generate(
            client,
            cid.as_ptr(),
            image.as_ptr(),
            std::ptr::null(),
            &mut json,
        ),
        ctrd_status::CTRD_OK,
    );
    assert_same_spec(&ctr_json, &common::take_string(json));
    ctrd_client_free(client);
    drop(c);
    let left = run(d.ctr(NS).args(["containers", "ls", "-q"]));
    assert!(!left.lines().any(|l| l == id), "{id} not removed");
}

#[test]
fn ctr_env_and_args_merge_like_ours() {
    let (_tmp, layout) = unpack_test_image();
    let facts = ImageFacts::of(&layout);
    let id = unique_id("env");
    // ctr applies --env before the image config and the args after it.
    let c = CtrContainer::create(
        &id,
        &[
            "--env",
            "PATH=/override",
            "--env",
            "X=1",
            IMAGE,
            &id,
            "echo",
            "hi there",
        ],
    );
    let mut ours = spec::default_spec(&defaults(), NS, &id).unwrap();
    ours.process_mut()
        .as_mut()
        .unwrap()
        .set_env(Some(vec!["PATH=/override".into(), "X=1".into()]));
    spec::apply_image_config(
        &mut ours,
        &facts.config,
        facts.passwd.as_deref(),
        facts.group.as_deref(),
    )
    .unwrap();
    spec::set_args(&mut ours, vec!["echo".into(), "hi there".into()]);
    assert_same_spec(&c.spec_json(), &spec::to_json(&ours).unwrap());
}

#[test]
fn ctr_resolves_image_users_like_ours() {
    // (tag, USER); every image also sets entrypoint, cmd, env and workdir.
    let users = [
        ("nouser", ""),
        ("name", "app"),
        ("uid", "1000"),
        ("uid-unknown", "4242"),
        ("name-group", "app:wheel"),
        ("uid-group", "1000:audio"),
        ("name-gid", "nobody:7"),
        ("uid-gid", "33:44"),
        ("nobody", "nobody"),
    ];
    for (tag, user) in users {
        let (name, _tmp, layout) = derived_image(
            tag,
            json!({
                "User": user,
                "Entrypoint": ["/bin/sh", "-c"],
                "Cmd": ["echo $FOO"],
                "Env": ["PATH=/bin:/usr/bin", "FOO=bar", "EMPTY="],
                "WorkingDir": "/tmp",
            }),
        );
        let facts = ImageFacts::of(&layout);
        assert_eq!(facts.passwd.as_deref(), Some(PASSWD));
        let id = unique_id(tag);
        let c = CtrContainer::create(&id, &[&name, &id]);
        let ctr_json = c.spec_json();
        let ours = facts.spec(&id).unwrap();
        assert_same_spec(&ctr_json, &spec::to_json(&ours).unwrap());
    }
}

#[test]
fn an_unknown_user_fails_in_ctr_and_here() {
    let (name, _tmp, layout) = derived_image("ghost", json!({"User": "ghost"}));
    let facts = ImageFacts::of(&layout);
    let id = unique_id("ghost");
    let out = daemon()
        .ctr(NS)
        .args(["containers", "create", &name, &id])
        .output()
        .unwrap();
    assert!(!out.status.success(), "ctr made a container for user ghost");
    let e = facts.spec(&id).unwrap_err();
    assert_eq!(e.code, Code::NotFound, "{e}");
    assert!(e.message.contains("\"ghost\""), "{e}");
}

#[test]
fn containerd_takes_our_spec_as_it_is() {
    // ctr --config: containerd's Go types decode our JSON and encode it back;
    // nothing may be lost or added on the way.
    let (_tmp, layout) = unpack_test_image();
    let facts = ImageFacts::of(&layout);
    let id = unique_id("config");
    let mut ours = facts.spec(&id).unwrap();
    spec::set_args(&mut ours, vec!["/bin/echo".into(), "ok".into()]);
    let json = spec::to_json(&ours).unwrap();
    assert_eq!(spec::parse(&json).unwrap(), ours, "round trip");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(&file, &json).unwrap();
    let c = CtrContainer::create(&id, &["--config", file.to_str().unwrap(), &id]);
    assert_same_spec(&c.spec_json(), &json);
}

/// The spec's user comes from the image's own files even when its
/// /etc/passwd is a symlink to an absolute path that also exists on this
/// host (which the library reads the layers from): the symlink resolves
/// inside the image, as it does for ctr, and the host file is never read.
#[test]
fn image_symlinks_resolve_inside_the_image_not_on_the_host() {
    let host = tempfile::tempdir().unwrap();
    let host_passwd = host.path().join("passwd");
    std::fs::write(&host_passwd, "app:x:4321:4321:host:/:/bin/sh\n").unwrap();
    let in_image = host_passwd.strip_prefix("/").unwrap().to_path_buf();
    let d = daemon();
    let client = common::connect(&d.address(), NS);
    // Our spec for `image` through the C API.
    let generate = |id: &str, image: &str| {
        let mut json = std::ptr::null_mut();
        let (cid, image) = (common::c(id), common::c(image));
        let status = ctrd_spec_generate(
            client,
            cid.as_ptr(),
            image.as_ptr(),
            std::ptr::null(),
            &mut json,
        );
        match status {
            ctrd_status::CTRD_OK => Ok(common::take_string(json)),
            s => Err((s, common::last_error())),
        }
    };

    // The image has its own file at the host file's path: its users count,
    // and its /etc/group, a relative symlink, gives the additional gids.
    let (name, _tmp, _layout) =
        derived_image_with("host-symlink", json!({"User": "app"}), |root| {
            std::fs::create_dir_all(root.join("etc")).unwrap();
            std::os::unix::fs::symlink(&host_passwd, root.join("etc/passwd")).unwrap();
            std::fs::create_dir_all(root.join(in_image.parent().unwrap())).unwrap();
            std::fs::write(root.join(&in_image), PASSWD).unwrap();
            std::os::unix::fs::symlink("../usr/share/group", root.join("etc/group")).unwrap();
            std::fs::create_dir_all(root.join("usr/share")).unwrap();
            std::fs::write(root.join("usr/share/group"), GROUP).unwrap();
        });
    let id = unique_id("hostlink");
    let c = CtrContainer::create(&id, &[&name, &id]);
    let ctr_json = c.spec_json();
    let ours = generate(&id, &name).expect("spec of the image");
    let spec: Value = serde_json::from_str(&ours).unwrap();
    assert_eq!(spec["process"]["user"]["uid"], json!(1000), "{ours}");
    assert_eq!(spec["process"]["user"]["gid"], json!(1001), "{ours}");
    assert_same_spec(&ctr_json, &ours);
    drop(c);

    // Without that file the image has no /etc/passwd (a dangling symlink
    // hides the lower layer's): no user "app", though the host lists one.
    let (name, _tmp, _layout) =
        derived_image_with("host-symlink-absent", json!({"User": "app"}), |root| {
            std::fs::create_dir_all(root.join("etc")).unwrap();
            std::os::unix::fs::symlink(&host_passwd, root.join("etc/passwd")).unwrap();
        });
    let (status, message) = generate(&unique_id("hostlink"), &name).unwrap_err();
    assert_eq!(status, ctrd_status::CTRD_ERR_NOT_FOUND, "{message}");
    assert!(
        message.contains("the image has no /etc/passwd"),
        "{message}"
    );
    ctrd_client_free(client);
}
