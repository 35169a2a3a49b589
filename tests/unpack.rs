//! Unpacking images into a snapshotter through the daemon's diff and
//! snapshot services (`ctrd_image_unpack`, `Client::unpack`), against the
//! real private containerd: images imported with `ctr images import
//! --no-unpack` unpack into the snapshots `ctr images check` and `ctr run`
//! use, with the labels containerd's Go unpacker sets (and the garbage
//! collector honours); a second unpack does nothing; a 5-layer image makes
//! the right chain of snapshots, with progress counted, and only its
//! missing layers are extracted again; concurrent unpacks both succeed;
//! zstd, uncompressed and Docker gzip layers unpack; a layer whose content does not match its diff id
//! fails naming the layer and leaves no snapshot and no lease behind; bad
//! input is refused.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::ptr::{null, null_mut};

use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// A namespace of its own on the shared daemon with `tar` imported without
/// unpacking (so it has no snapshots), and a client for it.
fn fresh_ns(test: &str, tar: &Path) -> Ns {
    let daemon = Daemon::shared();
    let name = format!("{test}-{}", std::process::id());
    run(daemon
        .ctr(&name)
        .args(["images", "import", "--no-unpack"])
        .arg(tar));
    let ns = Ns {
        daemon,
        name: name.clone(),
        client: connect(&daemon.address(), &name),
        snapshots_before: Vec::new(),
    };
    assert_eq!(ns.snapshot_keys(), Vec::<String>::new(), "no-unpack import");
    ns
}

fn get(client: *mut ctrd_client, name: &str) -> *mut ctrd_image {
    let mut out = null_mut();
    check(ctrd_image_get(client, c(name).as_ptr(), &mut out), CTRD_OK);
    out
}

fn unpack(i: *mut ctrd_image, snapshotter: Option<&str>) -> Result<(), Failure> {
    let snapshotter = snapshotter.map(c);
    match ctrd_image_unpack(i, snapshotter.as_ref().map_or(null(), |s| s.as_ptr())) {
        CTRD_OK => Ok(()),
        s => Err((s, last_error())),
    }
}

fn unpacked(i: *mut ctrd_image, snapshotter: &str) -> bool {
    let mut answer = false;
    check(
        ctrd_image_is_unpacked(i, c(snapshotter).as_ptr(), &mut answer),
        CTRD_OK,
    );
    answer
}

/// `ctr images check`'s UNPACKED column for image `name` (values are
/// single words; REF is the first column, UNPACKED the last).
fn ctr_unpacked(ns: &Ns, name: &str) -> bool {
    let out = run(ns.ctr().args(["images", "check"]));
    let line = out
        .lines()
        .skip(1)
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("{name} not in:\n{out}"));
    match line.split_whitespace().last() {
        Some("true") => true,
        Some("false") => false,
        other => panic!("UNPACKED {other:?} in {line:?}"),
    }
}

/// The labels of blob `digest` as `ctr content ls` shows them (the last
/// column, `k=v,k=v`; the AGE before it holds blanks).
fn content_labels(ns: &Ns, digest: &str) -> HashMap<String, String> {
    let out = run(ns.ctr().args(["content", "ls"]));
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(digest))
        .unwrap_or_else(|| panic!("{digest} not in:\n{out}"));
    let last = line.split_whitespace().last().unwrap_or("");
    if !last.contains('=') {
        return HashMap::new();
    }
    last.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Snapshots of `snapshotter` as `ctr snapshots ls` lists them: key →
/// (parent, kind).
fn snapshots(ns: &Ns, snapshotter: &str) -> HashMap<String, (String, String)> {
    let out = run(ns
        .ctr()
        .args(["snapshots", "--snapshotter", snapshotter, "ls"]));
    out.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // KEY PARENT KIND; keys of extraction snapshots hold a blank.
            let words: Vec<&str> = l.split_whitespace().collect();
            let kind = words[words.len() - 1].to_string();
            let (key, parent) = match words.len() {
                2 => (words[0].to_string(), String::new()),
                _ => (
                    words[..words.len() - 2].join(" "),
                    words[words.len() - 2].to_string(),
                ),
            };
            (key, (parent, kind))
        })
        .collect()
}

/// The creation time of snapshot `key`, from `ctr snapshots info`.
fn snapshot_created(ns: &Ns, key: &str) -> String {
    let info: Value = serde_json::from_str(&run(ns.ctr().args([
        "snapshots",
        "--snapshotter",
        "overlayfs",
        "info",
        key,
    ])))
    .unwrap();
    info["Created"].as_str().unwrap().to_string()
}

/// The chain ids of `diff_ids`, computed here from the OCI rule.
fn chains(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha256(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// An OCI archive's index, manifest, config, and blob reader.
struct Archive {
    tar: PathBuf,
}

impl Archive {
    fn blob(&self, digest: &str) -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").unwrap();
        let out = Command::new("tar")
            .arg("-xOf")
            .arg(&self.tar)
            .arg(format!("blobs/sha256/{hex}"))
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    }

    fn json(&self, digest: &str) -> Value {
        serde_json::from_slice(&self.blob(digest)).unwrap()
    }

    /// The manifest (of the index's first entry) and the config.
    fn manifest_and_config(&self) -> (Value, Value) {
        let index: Value = serde_json::from_str(&run(Command::new("tar")
            .arg("-xOf")
            .arg(&self.tar)
            .arg("index.json")))
        .unwrap();
        let manifest = self.json(index["manifests"][0]["digest"].as_str().unwrap());
        let config = self.json(manifest["config"]["digest"].as_str().unwrap());
        (manifest, config)
    }

    fn diff_ids(&self) -> Vec<String> {
        let (_, config) = self.manifest_and_config();
        config["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect()
    }
}

/// `cmd` fed `input` on stdin: its stdout.
fn filter(cmd: &mut Command, input: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{cmd:?} failed");
    out.stdout
}

/// A tar holding one file `name` with `text`.
fn tar_of(name: &str, text: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), text).unwrap();
    let out = Command::new("tar")
        .args(["--mtime=@0", "--owner=0", "--group=0", "--numeric-owner"])
        .arg("-C")
        .arg(dir.path())
        .args(["-cf", "-", name])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// Builds the OCI archive of image `name` in `dir`: the test image's
/// config with `diff_ids`, and `layers` (media type, blob).
fn build_archive(
    dir: &Path,
    name: &str,
    layers: &[(&str, Vec<u8>)],
    diff_ids: &[String],
) -> PathBuf {
    let root = dir.join("layout");
    let blobs = root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(&digest[7..]), bytes).unwrap();
        (digest, bytes.len())
    };
    let (_, mut config) = Archive {
        tar: image_tar().to_path_buf(),
    }
    .manifest_and_config();
    config["rootfs"]["diff_ids"] = json!(diff_ids);
    let (config_digest, config_size) = put(&serde_json::to_vec(&config).unwrap());
    let descs: Vec<Value> = layers
        .iter()
        .map(|(media_type, blob)| {
            let (digest, size) = put(blob);
            json!({"mediaType": media_type, "digest": digest, "size": size})
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": descs,
    });
    let (manifest_digest, manifest_size) = put(&serde_json::to_vec(&manifest).unwrap());
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": "1"},
        }],
    });
    std::fs::write(root.join("index.json"), index.to_string()).unwrap();
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let tar = dir.join("image.tar");
    run(Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&root)
        .args(["oci-layout", "index.json", "blobs"]));
    tar
}

/// The test image's one layer: (gzip blob, uncompressed tar).
fn busybox_layer() -> (Vec<u8>, Vec<u8>) {
    let archive = Archive {
        tar: image_tar().to_path_buf(),
    };
    let (manifest, _) = archive.manifest_and_config();
    let blob = archive.blob(manifest["layers"][0]["digest"].as_str().unwrap());
    let tar = filter(Command::new("gzip").arg("-dc"), &blob);
    (blob, tar)
}

/// The archives of scripts/make-images.sh, built once per test binary.
fn registry_images() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let base = repo().join("target").join("test-image");
        // Those of earlier runs (their PID gone).
        for e in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("unpack-images-") {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(format!("unpack-images-{}", std::process::id()));
        run(Command::new(repo().join("scripts/make-images.sh")).arg(&dir));
        dir
    })
}

const LAYERS: &str = "docker.io/ctrd/layers:latest";

/// Deletes image `name` with a synchronous garbage collection.
fn delete_image(ns: &Ns, name: &str) {
    check(
        ctrd_image_delete(ns.client, c(name).as_ptr(), CTRD_IMAGE_DELETE_SYNC),
        CTRD_OK,
    );
}

#[test]
fn unpack_makes_the_rootfs_ctr_runs_and_labels_as_go_does() {
    let ns = fresh_ns("unpack-basic", image_tar());
    let archive = Archive {
        tar: image_tar().to_path_buf(),
    };
    let (manifest, _) = archive.manifest_and_config();
    let diff_id = archive.diff_ids().remove(0);
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let config = manifest["config"]["digest"].as_str().unwrap().to_string();

    let i = get(ns.client, IMAGE);
    assert!(!unpacked(i, "overlayfs"));
    assert!(!ctr_unpacked(&ns, IMAGE));
    assert!(!content_labels(&ns, &layer).contains_key("containerd.io/uncompressed"));

    unpack(i, None).unwrap();
    assert!(unpacked(i, "overlayfs"));
    assert!(ctr_unpacked(&ns, IMAGE));
    // One committed snapshot named by the chain id (the diff id of the one
    // layer), no extraction snapshot left, no lease.
    let snaps = snapshots(&ns, "overlayfs");
    assert_eq!(
        snaps,
        HashMap::from([(diff_id.clone(), (String::new(), "Committed".to_string()))])
    );
    assert_eq!(ns.lease_ids(), Vec::<String>::new());
    assert_eq!(
        content_labels(&ns, &layer)
            .get("containerd.io/uncompressed")
            .map(String::as_str),
        Some(diff_id.as_str())
    );
    assert_eq!(
        content_labels(&ns, &config)
            .get("containerd.io/gc.ref.snapshot.overlayfs")
            .map(String::as_str),
        Some(diff_id.as_str())
    );

    // The garbage collector keeps the snapshot for the image (through the
    // config's label): a synchronous collection leaves it.
    let lease = format!("unpack-gc-{}", std::process::id());
    run(ns.ctr().args(["leases", "create", "--id", &lease]));
    run(ns.ctr().args(["leases", "delete", "--sync", &lease]));
    assert_eq!(snapshots(&ns, "overlayfs").len(), 1);

    // The rootfs is real: ctr runs it (without unpacking, as it is unpacked).
    let created = snapshot_created(&ns, &diff_id);
    let id = format!("unpack-run-{}", std::process::id());
    ctr_run_check(
        ns.ctr()
            .args(["run", "--rm", "--snapshotter", "overlayfs", IMAGE, &id]),
        "test -x /bin/busybox",
    );

    // Again: nothing to do; the snapshot is the one made before.
    unpack(i, Some("overlayfs")).unwrap();
    assert_eq!(snapshots(&ns, "overlayfs"), snaps);
    assert_eq!(snapshot_created(&ns, &diff_id), created);
    assert_eq!(ns.lease_ids(), Vec::<String>::new());

    // Another snapshotter: its own snapshot and config label.
    assert!(!unpacked(i, "native"));
    unpack(i, Some("native")).unwrap();
    assert!(unpacked(i, "native"));
    assert_eq!(
        snapshots(&ns, "native"),
        HashMap::from([(diff_id.clone(), (String::new(), "Committed".to_string()))])
    );
    let labels = content_labels(&ns, &config);
    assert_eq!(labels["containerd.io/gc.ref.snapshot.native"], diff_id);
    assert_eq!(labels["containerd.io/gc.ref.snapshot.overlayfs"], diff_id);
    ctrd_image_free(i);

    // Deleting the image lets the collector take the snapshots.
    delete_image(&ns, IMAGE);
    assert_eq!(snapshots(&ns, "native"), HashMap::new());
    ns.assert_clean();
}

#[test]
fn five_layers_unpack_into_the_chain_with_progress_and_missing_ones_only_again() {
    use containerd_c::core::image::progress::{Phase, Progress};
    use containerd_c::core::image::records::ImageRecord;
    use containerd_c::core::Client;
    use containerd_c::runtime::block_on;
    use std::sync::Arc;

    let tar = registry_images().join("layers.tar");
    let ns = fresh_ns("unpack-layers", &tar);
    let diff_ids = Archive { tar: tar.clone() }.diff_ids();
    assert_eq!(diff_ids.len(), 5);
    let want = chains(&diff_ids);

    // Through the core API, under a lease of the caller's, with progress.
    let client = Arc::new(Client::connect(Some(&ns.daemon.address()), Some(&ns.name)).unwrap());
    let progress = Arc::new(Progress::new());
    progress.set_phase(Phase::Fetching);
    progress.set_totals(6_500_000, 5);
    progress.add_bytes(6_500_000);
    progress.layer_fetched();
    let lease = format!("unpack-layers-{}", std::process::id());
    let (c, lease_id, p) = (client.clone(), lease.clone(), progress.clone());
    block_on(async move {
        let image: ImageRecord = c.get_image(LAYERS).await?;
        let content = c.platform_content(&image).await?;
        assert_eq!(content.layers.len(), 5);
        c.create_lease(&lease_id).await?;
        c.unpack(&content, "overlayfs", Some(&lease_id), Some(&p))
            .await
    })
    .unwrap();
    let p = progress.snapshot();
    assert_eq!(p.phase, Phase::Unpacking);
    assert_eq!((p.layers_done, p.layers_total), (5, 5));
    assert_eq!((p.bytes_done, p.bytes_total), (6_500_000, 6_500_000));

    // Five committed snapshots, each on the one below.
    let snaps = snapshots(&ns, "overlayfs");
    let expected: HashMap<String, (String, String)> = want
        .iter()
        .enumerate()
        .map(|(k, chain)| {
            let parent = if k == 0 { "" } else { &want[k - 1] };
            (chain.clone(), (parent.to_string(), "Committed".to_string()))
        })
        .collect();
    assert_eq!(snaps, expected);
    let i = get(ns.client, LAYERS);
    assert!(unpacked(i, "overlayfs"));
    assert!(ctr_unpacked(&ns, LAYERS));
    let id = format!("unpack-layers-run-{}", std::process::id());
    ctr_run_check(
        ns.ctr()
            .args(["run", "--rm", "--snapshotter", "overlayfs", LAYERS, &id]),
        "[ \"$(ls /data | tr '\\n' ' ')\" = '1.bin 2.bin 3.bin 4.bin ' ] && \
         [ $(wc -c < /data/4.bin) -eq 1572864 ]",
    );

    // Without the top snapshot (the lower ones kept by the lease): only it
    // is extracted again.
    let lower: Vec<String> = want[..4].iter().map(|k| snapshot_created(&ns, k)).collect();
    let top_created = snapshot_created(&ns, &want[4]);
    let rm_top = || {
        run(ns
            .ctr()
            .args(["snapshots", "--snapshotter", "overlayfs", "rm", &want[4]]))
    };
    rm_top();
    assert!(!unpacked(i, "overlayfs"));
    unpack(i, None).unwrap();
    assert!(unpacked(i, "overlayfs"));
    assert_eq!(snapshots(&ns, "overlayfs"), expected);
    let again: Vec<String> = want[..4].iter().map(|k| snapshot_created(&ns, k)).collect();
    assert_eq!(again, lower, "the lower layers were not extracted again");
    assert_ne!(snapshot_created(&ns, &want[4]), top_created);
    block_on(async move { client.delete_lease(&lease).await }).unwrap();

    // Without the top and nothing keeping the rest (the config's label
    // names the top), a collection takes them all; all are made again.
    rm_top();
    let gc = format!("unpack-layers-gc-{}", std::process::id());
    run(ns.ctr().args(["leases", "create", "--id", &gc]));
    run(ns.ctr().args(["leases", "delete", "--sync", &gc]));
    assert_eq!(snapshots(&ns, "overlayfs"), HashMap::new());
    unpack(i, None).unwrap();
    assert_eq!(snapshots(&ns, "overlayfs"), expected);
    ctrd_image_free(i);
    delete_image(&ns, LAYERS);
    ns.assert_clean();
}

#[test]
fn concurrent_unpacks_of_the_same_layers_both_succeed() {
    let tar = registry_images().join("layers.tar");
    let ns = fresh_ns("unpack-race", &tar);
    let want = chains(&Archive { tar: tar.clone() }.diff_ids());
    let i = get(ns.client, LAYERS);
    let image = i as usize;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                unpack(image as *mut ctrd_image, None)
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    assert!(unpacked(i, "overlayfs"));
    let snaps = snapshots(&ns, "overlayfs");
    let mut keys: Vec<&String> = snaps.keys().collect();
    keys.sort();
    let mut wanted: Vec<&String> = want.iter().collect();
    wanted.sort();
    assert_eq!(keys, wanted, "only the committed chain is left");
    assert_eq!(ns.lease_ids(), Vec::<String>::new());
    ctrd_image_free(i);
    delete_image(&ns, LAYERS);
    ns.assert_clean();
}

#[test]
fn zstd_uncompressed_and_docker_layers_unpack() {
    let (_, tar) = busybox_layer();
    let zstd = filter(Command::new("zstd").args(["-q", "-c"]), &tar);
    let extra = tar_of("extra.txt", "plain tar layer\n");
    let docker = tar_of("docker.txt", "docker gzip layer\n");
    let docker_gz = filter(Command::new("gzip").args(["-n", "-c"]), &docker);
    let dir = tempfile::tempdir_in(repo().join("target")).unwrap();
    let name = "docker.io/library/ctrd-zstd:1";
    let archive = build_archive(
        dir.path(),
        name,
        &[
            ("application/vnd.oci.image.layer.v1.tar+zstd", zstd),
            ("application/vnd.oci.image.layer.v1.tar", extra.clone()),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                docker_gz,
            ),
        ],
        &[sha256(&tar), sha256(&extra), sha256(&docker)],
    );
    let ns = fresh_ns("unpack-zstd", &archive);
    let i = get(ns.client, name);
    unpack(i, None).unwrap();
    assert!(unpacked(i, "overlayfs"));
    let id = format!("unpack-zstd-run-{}", std::process::id());
    let out = run(ns
        .ctr()
        .args(["run", "--rm", "--snapshotter", "overlayfs", name, &id])
        .args(["cat", "/extra.txt", "/docker.txt"]));
    assert_eq!(out, "plain tar layer\ndocker gzip layer\n");
    ctrd_image_free(i);
    delete_image(&ns, name);
    ns.assert_clean();
}

#[test]
fn a_layer_not_matching_its_diff_id_fails_naming_it_and_leaves_nothing() {
    let (gz, tar) = busybox_layer();
    let extra = tar_of("extra.txt", "second layer\n");
    let extra_gz = filter(Command::new("gzip").args(["-n", "-c"]), &extra);
    let wrong = sha256(b"not the second layer");
    let dir = tempfile::tempdir_in(repo().join("target")).unwrap();
    let name = "docker.io/library/ctrd-corrupt:1";
    let gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    let archive = build_archive(
        dir.path(),
        name,
        &[(gzip, gz.clone()), (gzip, extra_gz.clone())],
        &[sha256(&tar), wrong.clone()],
    );
    let ns = fresh_ns("unpack-corrupt", &archive);
    let i = get(ns.client, name);
    let (status, msg) = unpack(i, None).unwrap_err();
    assert_eq!(status, CTRD_ERR_FAILED_PRECONDITION, "{msg}");
    for part in [
        "ctrd_image_unpack: unpack image \"docker.io/library/ctrd-corrupt:1\"",
        "on snapshotter \"overlayfs\"",
        &format!("layer 2 of 2 ({})", sha256(&extra_gz)),
        &sha256(&extra),
        &wrong,
    ] {
        assert!(msg.contains(part), "{part:?} not in {msg:?}");
    }
    assert!(!unpacked(i, "overlayfs"));
    // The first layer, committed before the failure, went with the lease.
    ns.assert_clean();
    ctrd_image_free(i);
    delete_image(&ns, name);

    // More layers than diff ids: refused before anything is made.
    let dir2 = tempfile::tempdir_in(repo().join("target")).unwrap();
    let name2 = "docker.io/library/ctrd-short:1";
    let archive = build_archive(
        dir2.path(),
        name2,
        &[(gzip, gz), (gzip, extra_gz)],
        &[sha256(&tar)],
    );
    run(ns
        .ctr()
        .args(["images", "import", "--no-unpack"])
        .arg(&archive));
    let i = get(ns.client, name2);
    let (status, msg) = unpack(i, None).unwrap_err();
    assert_eq!(status, CTRD_ERR_UNKNOWN, "{msg}");
    assert!(
        msg.contains("the manifest has 2 layers but the config"),
        "{msg}"
    );
    assert!(msg.contains("has 1 diff ids"), "{msg}");
    ctrd_image_free(i);
    delete_image(&ns, name2);
    ns.assert_clean();
}

#[test]
fn bad_input_is_refused_and_an_unknown_snapshotter_gets_the_daemon_s_words() {
    let ns = fresh_ns("unpack-bad", image_tar());
    let i = get(ns.client, IMAGE);
    let (status, msg) = unpack(null_mut(), None).unwrap_err();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT);
    assert_eq!(msg, "ctrd_image_unpack: image is NULL");
    let (status, msg) = unpack(i, Some("")).unwrap_err();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT);
    assert_eq!(
        msg,
        "ctrd_image_unpack: snapshotter is empty (NULL means overlayfs)"
    );
    let bad_utf8: &[u8] = &[b'a', 0xff, 0];
    assert_eq!(
        ctrd_image_unpack(i, bad_utf8.as_ptr().cast()),
        CTRD_ERR_INVALID_ARGUMENT
    );
    let msg = last_error();
    assert!(
        msg.starts_with("ctrd_image_unpack: snapshotter is not valid UTF-8"),
        "{msg}"
    );
    let (status, msg) = unpack(i, Some("no-such-snapshotter")).unwrap_err();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    assert!(msg.contains("no-such-snapshotter"), "{msg}");
    assert!(msg.contains("snapshotter not loaded"), "{msg}");
    // Nothing was made, the lease is gone.
    assert!(!unpacked(i, "overlayfs"));
    ns.assert_clean();

    // An image whose record outlived it: the daemon's not found.
    delete_image(&ns, IMAGE);
    let (status, msg) = unpack(i, None).unwrap_err();
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    ctrd_image_free(i);
    ns.assert_clean();
}
