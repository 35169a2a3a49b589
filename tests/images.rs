//! containerd's Go `Image` surface for images already in containerd, against
//! the real private containerd: get and list (with filters, a bad filter),
//! name, digest and size compared with `ctr images ls` and with the test
//! image archive itself, the config compared with the archive's config blob,
//! unpacked or not compared with `ctr images check`, delete (also
//! synchronous, with the garbage collector's work done on return), tag
//! compared with `ctr images ls` (also forced, onto itself, from a missing
//! source), and a table of bad inputs.

mod common;

use std::collections::BTreeSet;
use std::ffi::{c_char, CStr};
use std::process::Command;
use std::ptr::{null, null_mut};

use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;
use serde_json::Value;

fn get(client: *mut ctrd_client, name: &str) -> Result<*mut ctrd_image, Failure> {
    let mut out = null_mut();
    outcome(ctrd_image_get(client, c(name).as_ptr(), &mut out), out)
}

fn list(client: *mut ctrd_client, filter: Option<&str>) -> Result<Vec<String>, Failure> {
    let filter = filter.map(c);
    let (mut names, mut len) = (null_mut(), usize::MAX);
    let status = ctrd_image_list(
        client,
        filter.as_ref().map_or(null(), |f| f.as_ptr()),
        &mut names,
        &mut len,
    );
    strings_outcome(status, names, len)
}

fn borrowed(p: *const c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: a NUL-terminated string borrowed from a live handle.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
}

fn size(i: *mut ctrd_image) -> Result<u64, Failure> {
    let mut bytes = u64::MAX;
    match ctrd_image_size(i, &mut bytes) {
        CTRD_OK => Ok(bytes),
        s => {
            assert_eq!(bytes, u64::MAX, "out written on failure");
            Err((s, last_error()))
        }
    }
}

fn config_json(i: *mut ctrd_image) -> Result<String, Failure> {
    let mut json = null_mut();
    match ctrd_image_config_json(i, &mut json) {
        CTRD_OK => Ok(take_string(json)),
        s => {
            assert!(json.is_null(), "out written on failure");
            Err((s, last_error()))
        }
    }
}

fn unpacked(i: *mut ctrd_image, snapshotter: Option<&str>) -> Result<bool, Failure> {
    let snapshotter = snapshotter.map(c);
    let mut answer = false;
    let status = ctrd_image_is_unpacked(
        i,
        snapshotter.as_ref().map_or(null(), |s| s.as_ptr()),
        &mut answer,
    );
    match status {
        CTRD_OK => Ok(answer),
        s => Err((s, last_error())),
    }
}

fn delete(client: *mut ctrd_client, name: &str, flags: u32) -> Result<(), Failure> {
    match ctrd_image_delete(client, c(name).as_ptr(), flags) {
        CTRD_OK => Ok(()),
        s => Err((s, last_error())),
    }
}

fn tag(client: *mut ctrd_client, name: &str, new_name: &str, flags: u32) -> Result<(), Failure> {
    match ctrd_image_tag(client, c(name).as_ptr(), c(new_name).as_ptr(), flags) {
        CTRD_OK => Ok(()),
        s => Err((s, last_error())),
    }
}

/// The rows of a `ctr` table as maps from column name to value. Columns
/// are found by the header's positions (values such as "1011.5 KiB" and
/// "complete (2/2)" hold blanks).
fn ctr_table(out: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = out.lines();
    let header = lines.next().expect("a header line");
    let mut starts = Vec::new();
    let mut prev_blank = true;
    for (i, ch) in header.char_indices() {
        if ch != ' ' && prev_blank {
            starts.push(i);
        }
        prev_blank = ch == ' ';
    }
    let names: Vec<String> = starts
        .iter()
        .map(|&s| header[s..].split(' ').next().unwrap().to_string())
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut row = std::collections::HashMap::new();
            for (k, &s) in starts.iter().enumerate() {
                let end = starts.get(k + 1).copied().unwrap_or(l.len()).min(l.len());
                let value = l.get(s.min(l.len())..end).unwrap_or("").trim();
                row.insert(names[k].clone(), value.to_string());
            }
            row
        })
        .collect()
}

/// The row of `ctr images <cmd>` for image `name`.
fn ctr_row(ctr: Command, name: &str) -> std::collections::HashMap<String, String> {
    let mut ctr = ctr;
    let out = run(&mut ctr);
    ctr_table(&out)
        .into_iter()
        .find(|r| r.get("REF").map(String::as_str) == Some(name))
        .unwrap_or_else(|| panic!("{name} not in:\n{out}"))
}

/// A blob of the test image archive.
fn archive_blob(digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(image_tar())
        .arg(format!("blobs/sha256/{hex}"))
        .output()
        .expect("tar");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The archive's manifest (the one its index names), its digest and its
/// config's digest, read straight from the tar.
fn archive_manifest() -> (String, Value) {
    let index: Value = serde_json::from_str(&run(Command::new("tar")
        .arg("-xOf")
        .arg(image_tar())
        .arg("index.json")))
    .unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let manifest = serde_json::from_slice(&archive_blob(&digest)).unwrap();
    (digest, manifest)
}

/// A size as containerd's `ctr` prints it (Go's `progress.Bytes`: "%.1f"
/// of the value in the largest unit of 1024 it reaches): value and unit.
fn parse_human(s: &str) -> (f64, String) {
    let (value, unit) = s.split_once(' ').unwrap_or_else(|| panic!("size {s:?}"));
    (value.parse().unwrap(), unit.to_string())
}

fn in_unit(bytes: u64, unit: &str) -> f64 {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let power = units.iter().position(|u| *u == unit).expect("a known unit");
    bytes as f64 / 1024f64.powi(power as i32)
}

#[test]
fn get_gives_the_name_and_digest_ctr_shows() {
    let ns = Ns::new("imgget");
    let i = get(ns.client, IMAGE).unwrap();
    assert_eq!(borrowed(ctrd_image_name(i)), IMAGE);
    let digest = borrowed(ctrd_image_digest(i));
    let row = ctr_row(
        {
            let mut c = ns.ctr();
            c.args(["images", "ls"]);
            c
        },
        IMAGE,
    );
    assert_eq!(digest, row["DIGEST"]);
    // ctr import makes the image point at the archive's manifest.
    assert_eq!(digest, archive_manifest().0);
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    ctrd_image_free(i);

    // Each get is a handle of its own.
    let (a, b) = (
        get(ns.client, IMAGE).unwrap(),
        get(ns.client, IMAGE).unwrap(),
    );
    assert_ne!(a, b);
    ctrd_image_free(a);
    assert_eq!(borrowed(ctrd_image_name(b)), IMAGE);
    ctrd_image_free(b);

    let (status, msg) = get(ns.client, "docker.io/library/nothing:here").unwrap_err();
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert!(
        msg.starts_with(&format!(
            "ctrd_image_get: image \"docker.io/library/nothing:here\" in namespace \"{}\"",
            ns.name
        )) && msg.contains("not found"),
        "{msg}"
    );
    ns.assert_clean();
}

#[test]
fn list_follows_filters_as_ctr_does() {
    let ns = Ns::new("imglist");
    let other = "docker.io/library/ctrd-test-other:2";
    run(ns.ctr().args(["images", "tag", IMAGE, other]));
    run(ns.ctr().args(["images", "label", other, "tier=back"]));

    let all: BTreeSet<String> = list(ns.client, None).unwrap().into_iter().collect();
    let ctr_all: BTreeSet<String> = run(ns.ctr().args(["images", "ls", "-q"]))
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(all, ctr_all);
    assert_eq!(all, BTreeSet::from([IMAGE.to_string(), other.to_string()]));

    let by_name = format!("name=={IMAGE}");
    assert_eq!(list(ns.client, Some(&by_name)).unwrap(), [IMAGE]);
    assert_eq!(
        list(ns.client, Some(r#"labels."tier"==back"#)).unwrap(),
        [other]
    );
    assert_eq!(
        list(ns.client, Some(r#"labels."tier"==front"#)).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        list(ns.client, Some("name==docker.io/library/nothing:here")).unwrap(),
        Vec::<String>::new()
    );
    // The daemon's regexp match, as `ctr images ls 'name~=other'`.
    assert_eq!(list(ns.client, Some("name~=other")).unwrap(), [other]);

    for bad in ["name==", r#"labels."tier"#, "!!", "name==a,"] {
        let (status, msg) = list(ns.client, Some(bad)).unwrap_err();
        assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{bad}: {msg}");
        assert!(
            msg.starts_with(&format!(
                "ctrd_image_list: list images in namespace \"{}\"",
                ns.name
            )) && msg.contains("parse error"),
            "{bad}: {msg}"
        );
    }

    // A namespace without images lists none.
    let empty = connect(&ns.daemon.address(), &format!("{}-empty", ns.name));
    assert_eq!(list(empty, None).unwrap(), Vec::<String>::new());
    ctrd_client_free(empty);
    ns.assert_clean();
}

#[test]
fn size_is_what_ctr_shows_and_the_archive_holds() {
    let ns = Ns::new("imgsize");
    let i = get(ns.client, IMAGE).unwrap();
    let bytes = size(i).unwrap();

    // Exactly the manifest, config and layer blobs of the archive.
    let (manifest_digest, manifest) = archive_manifest();
    let mut want = archive_blob(&manifest_digest).len() as u64;
    want += archive_blob(manifest["config"]["digest"].as_str().unwrap()).len() as u64;
    for layer in manifest["layers"].as_array().unwrap() {
        want += archive_blob(layer["digest"].as_str().unwrap()).len() as u64;
    }
    assert_eq!(bytes, want);

    // What `ctr images ls` prints under SIZE, to its one decimal.
    let row = ctr_row(
        {
            let mut c = ns.ctr();
            c.args(["images", "ls"]);
            c
        },
        IMAGE,
    );
    let (shown, unit) = parse_human(&row["SIZE"]);
    let ours = in_unit(bytes, &unit);
    assert!(
        (ours - shown).abs() <= 0.05 + 1e-9,
        "{bytes} bytes is {ours:.3} {unit}, ctr shows {}",
        row["SIZE"]
    );
    assert!((1.0..1024.0).contains(&ours), "{ours} {unit}");
    ctrd_image_free(i);
    ns.assert_clean();
}

#[test]
fn an_image_of_an_index_counts_the_index_and_reads_through_it() {
    let ns = Ns::new("imgindex");
    let indexed = "docker.io/library/ctrd-index:1";
    run(ns
        .ctr()
        .args(["images", "import", "--snapshotter", "overlayfs"])
        .args(["--index-name", indexed])
        .arg(image_tar()));
    let index = run(Command::new("tar")
        .arg("-xOf")
        .arg(image_tar())
        .arg("index.json"));
    let i = get(ns.client, indexed).unwrap();
    let m = get(ns.client, IMAGE).unwrap();
    let row = ctr_row(
        {
            let mut c = ns.ctr();
            c.args(["images", "ls"]);
            c
        },
        indexed,
    );
    let digest = borrowed(ctrd_image_digest(i));
    assert_eq!(digest, row["DIGEST"]);
    assert!(row["TYPE"].contains("index"), "{row:?}");
    assert_ne!(digest, borrowed(ctrd_image_digest(m)));
    // The index itself counts, then what the manifest for this platform holds.
    let bytes = size(i).unwrap();
    assert_eq!(bytes, size(m).unwrap() + index.len() as u64);
    let (shown, unit) = parse_human(&row["SIZE"]);
    assert!(
        (in_unit(bytes, &unit) - shown).abs() <= 0.05 + 1e-9,
        "{bytes} bytes, ctr shows {}",
        row["SIZE"]
    );
    // Config and unpacked state come from the manifest the index names.
    assert_eq!(config_json(i).unwrap(), config_json(m).unwrap());
    assert!(unpacked(i, None).unwrap());
    assert!(ctr_unpacked(ns.daemon, &ns.name, indexed));
    ctrd_image_free(m);
    ctrd_image_free(i);
    delete(ns.client, indexed, CTRD_IMAGE_DELETE_SYNC).unwrap();
    ns.assert_clean();
}

/// An OCI archive holding the test image's blobs plus a manifest for
/// another platform (its own config, the same layer), under an index that
/// lists `platforms` in that order ("this" for the test image's manifest,
/// "other" for the foreign one). Returns the archive's path and the index.
fn multi_platform_archive(ns: &Ns, platforms: &[&str]) -> (std::path::PathBuf, Vec<u8>) {
    use sha2::Digest as _;
    let dir = repo().join("target").join("test-image").join(format!(
        "multi-{}-{}",
        ns.name,
        platforms.join("-")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    run(Command::new("tar")
        .arg("-xf")
        .arg(image_tar())
        .arg("-C")
        .arg(&dir));
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex: String = sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (manifest_digest, manifest) = archive_manifest();
    let this_len = archive_blob(&manifest_digest).len();
    let mut config: Value = serde_json::from_slice(&archive_blob(
        manifest["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    config["architecture"] = "s390x".into();
    let (config_digest, config_len) = put(&serde_json::to_vec(&config).unwrap());
    let mut other = manifest.clone();
    other["config"]["digest"] = config_digest.into();
    other["config"]["size"] = config_len.into();
    let (other_digest, other_len) = put(&serde_json::to_vec(&other).unwrap());
    let arch = config_arch();
    let entries: Vec<Value> = platforms
        .iter()
        .map(|p| match *p {
            "this" => serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest, "size": this_len,
                "platform": {"architecture": arch, "os": "linux"}}),
            _ => serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": other_digest, "size": other_len,
                "platform": {"architecture": "s390x", "os": "linux"}}),
        })
        .collect();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }))
    .unwrap();
    std::fs::write(dir.join("index.json"), &index).unwrap();
    let tar = dir.with_extension("tar");
    run(Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&dir)
        .args(["oci-layout", "index.json", "blobs"]));
    std::fs::remove_dir_all(&dir).unwrap();
    (tar, index)
}

/// The architecture in the test image's config (this machine's).
fn config_arch() -> String {
    let (_, manifest) = archive_manifest();
    let config: Value = serde_json::from_slice(&archive_blob(
        manifest["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    config["architecture"].as_str().unwrap().to_string()
}

#[test]
fn only_this_platform_of_a_multi_platform_index_counts() {
    let ns = Ns::new("imgmulti");
    let m = get(ns.client, IMAGE).unwrap();
    let (manifest_size, config) = (size(m).unwrap(), config_json(m).unwrap());
    ctrd_image_free(m);

    // The other platform first: the choice is by platform, not by order.
    let (tar, index) = multi_platform_archive(&ns, &["other", "this"]);
    let multi = "docker.io/library/ctrd-multi:1";
    run(ns
        .ctr()
        .args(["images", "import", "--snapshotter", "overlayfs"])
        .args(["--index-name", multi])
        .arg(&tar));
    let i = get(ns.client, multi).unwrap();
    let bytes = size(i).unwrap();
    assert_eq!(bytes, index.len() as u64 + manifest_size);
    let row = ctr_row(
        {
            let mut c = ns.ctr();
            c.args(["images", "ls"]);
            c
        },
        multi,
    );
    let (shown, unit) = parse_human(&row["SIZE"]);
    assert!(
        (in_unit(bytes, &unit) - shown).abs() <= 0.05 + 1e-9,
        "{bytes} bytes, ctr shows {}",
        row["SIZE"]
    );
    assert_eq!(config_json(i).unwrap(), config);
    assert!(unpacked(i, None).unwrap());
    ctrd_image_free(i);
    delete(ns.client, multi, CTRD_IMAGE_DELETE_SYNC).unwrap();
    std::fs::remove_file(&tar).unwrap();

    // An index without this platform: nothing to count or read.
    let (tar, _) = multi_platform_archive(&ns, &["other"]);
    let foreign = "docker.io/library/ctrd-foreign:1";
    run(ns
        .ctr()
        .args(["images", "import", "--all-platforms", "--no-unpack"])
        .args(["--index-name", foreign])
        .arg(&tar));
    std::fs::remove_file(&tar).unwrap();
    let i = get(ns.client, foreign).unwrap();
    for (status, msg) in [
        size(i).unwrap_err(),
        config_json(i).unwrap_err(),
        unpacked(i, None).unwrap_err(),
    ] {
        assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
        assert!(msg.contains("no manifest for linux/"), "{msg}");
    }
    ctrd_image_free(i);
    delete(ns.client, foreign, CTRD_IMAGE_DELETE_SYNC).unwrap();
    ns.assert_clean();
}

#[test]
fn config_json_is_the_stored_config_blob() {
    let ns = Ns::new("imgconfig");
    let i = get(ns.client, IMAGE).unwrap();
    let json = config_json(i).unwrap();
    let (_, manifest) = archive_manifest();
    let blob = archive_blob(manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(json.as_bytes(), blob.as_slice());
    let config: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(config["os"], "linux");
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["sh"]));
    ctrd_image_free(i);
    ns.assert_clean();
}

/// `ctr images check`'s UNPACKED column for `name` in namespace `ns`.
fn ctr_unpacked(daemon: &Daemon, ns: &str, name: &str) -> bool {
    let row = ctr_row(
        {
            let mut c = daemon.ctr(ns);
            c.args(["images", "check"]);
            c
        },
        name,
    );
    match row["UNPACKED"].as_str() {
        "true" => true,
        "false" => false,
        other => panic!("UNPACKED {other:?}"),
    }
}

#[test]
fn is_unpacked_follows_the_snapshot_as_ctr_check_does() {
    let ns = Ns::new("imgunpacked");
    let i = get(ns.client, IMAGE).unwrap();
    // Imported with unpacking (scripts/import-image.sh).
    assert!(unpacked(i, None).unwrap());
    assert!(unpacked(i, Some("overlayfs")).unwrap());
    assert!(ctr_unpacked(ns.daemon, &ns.name, IMAGE));
    // Not on another snapshotter.
    assert!(!unpacked(i, Some("native")).unwrap());
    let (status, msg) = unpacked(i, Some("no-such-snapshotter")).unwrap_err();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    assert!(msg.contains("no-such-snapshotter"), "{msg}");
    ctrd_image_free(i);

    // The same archive without unpacking, in a namespace of its own
    // (snapshots belong to a namespace): not unpacked, until an import with
    // unpacking makes the snapshot (ctr 1.6 has no `images unpack`).
    let other = format!("{}-nounpack", ns.name);
    run(ns
        .daemon
        .ctr(&other)
        .args(["images", "import", "--no-unpack"])
        .arg(image_tar()));
    let client = connect(&ns.daemon.address(), &other);
    let i = get(client, IMAGE).unwrap();
    assert!(!unpacked(i, None).unwrap());
    assert!(!ctr_unpacked(ns.daemon, &other, IMAGE));
    run(ns
        .daemon
        .ctr(&other)
        .args(["images", "import", "--snapshotter", "overlayfs"])
        .arg(image_tar()));
    assert!(unpacked(i, None).unwrap());
    assert!(ctr_unpacked(ns.daemon, &other, IMAGE));
    ctrd_image_free(i);
    check(
        ctrd_image_delete(client, c(IMAGE).as_ptr(), CTRD_IMAGE_DELETE_SYNC),
        CTRD_OK,
    );
    ctrd_client_free(client);
    ns.assert_clean();
}

#[test]
fn delete_removes_the_record() {
    let ns = Ns::new("imgdelete");
    let doomed = "docker.io/library/ctrd-doomed:1";
    run(ns.ctr().args(["images", "tag", IMAGE, doomed]));
    let i = get(ns.client, doomed).unwrap();
    delete(ns.client, doomed, 0).unwrap();
    assert_eq!(get(ns.client, doomed).unwrap_err().0, CTRD_ERR_NOT_FOUND);
    let listed = run(ns.ctr().args(["images", "ls", "-q"]));
    assert_eq!(listed.lines().collect::<Vec<_>>(), [IMAGE]);
    // The handle outlives the record; the content is still the other
    // image's, so it still reads.
    assert_eq!(borrowed(ctrd_image_name(i)), doomed);
    assert_eq!(size(i).unwrap(), {
        let j = get(ns.client, IMAGE).unwrap();
        let s = size(j).unwrap();
        ctrd_image_free(j);
        s
    });
    ctrd_image_free(i);

    let (status, msg) = delete(ns.client, doomed, 0).unwrap_err();
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert!(
        msg.starts_with(&format!(
            "ctrd_image_delete: delete image \"{doomed}\" in namespace \"{}\"",
            ns.name
        )) && msg.contains("not found"),
        "{msg}"
    );
    // The image the tag shared its content with is untouched.
    let i = get(ns.client, IMAGE).unwrap();
    assert!(unpacked(i, None).unwrap());
    ctrd_image_free(i);
    ns.assert_clean();
}

/// The DIGEST and LABELS `ctr images ls` shows for image `name`.
fn ctr_digest_and_labels(ns: &Ns, name: &str) -> (String, String) {
    let mut ls = ns.ctr();
    ls.args(["images", "ls"]);
    let row = ctr_row(ls, name);
    (row["DIGEST"].clone(), row["LABELS"].clone())
}

#[test]
fn tag_gives_a_second_name_as_ctr_tag_does() {
    let ns = Ns::new("imgtag");
    ns.daemon.import(&ns.name, image_nobody_tar());
    let mut ns = ns;
    ns.snapshots_before = ns.snapshot_keys();
    run(ns
        .ctr()
        .args(["images", "label", IMAGE, "ctrd.test/tagged=yes"]));
    let source = ctr_digest_and_labels(&ns, IMAGE);
    assert_eq!(source.1, "ctrd.test/tagged=yes");
    let nobody = ctr_digest_and_labels(&ns, IMAGE_NOBODY);
    assert_ne!(source.0, nobody.0);

    // A new name: the same target and labels, as ctr shows them.
    let copy = "docker.io/library/ctrd-tagged:1";
    tag(ns.client, IMAGE, copy, 0).unwrap();
    assert_eq!(ctr_digest_and_labels(&ns, copy), source);
    let i = get(ns.client, copy).unwrap();
    assert_eq!(borrowed(ctrd_image_name(i)), copy);
    assert_eq!(borrowed(ctrd_image_digest(i)), source.0);
    ctrd_image_free(i);
    // Names are taken as they are: no Docker-style normalising.
    tag(ns.client, IMAGE, "short", 0).unwrap();
    assert_eq!(ctr_digest_and_labels(&ns, "short").0, source.0);
    delete(ns.client, "short", 0).unwrap();

    // An existing name without FORCE: refused, left as it was.
    let (status, msg) = tag(ns.client, IMAGE_NOBODY, copy, 0).unwrap_err();
    assert_eq!(status, CTRD_ERR_ALREADY_EXISTS, "{msg}");
    assert!(
        msg.starts_with(&format!(
            "ctrd_image_tag: create image \"{copy}\" in namespace \"{}\"",
            ns.name
        )) && msg.contains("already exists"),
        "{msg}"
    );
    assert_eq!(ctr_digest_and_labels(&ns, copy), source);
    // Onto itself, as ctr: refused without FORCE, nothing changes with it.
    let (status, msg) = tag(ns.client, IMAGE, IMAGE, 0).unwrap_err();
    assert_eq!(status, CTRD_ERR_ALREADY_EXISTS, "{msg}");
    tag(ns.client, IMAGE, IMAGE, CTRD_IMAGE_TAG_FORCE).unwrap();
    assert_eq!(ctr_digest_and_labels(&ns, IMAGE), source);

    // FORCE retargets the existing name to the source's target and labels.
    tag(ns.client, IMAGE_NOBODY, copy, CTRD_IMAGE_TAG_FORCE).unwrap();
    assert_eq!(ctr_digest_and_labels(&ns, copy), nobody);
    // FORCE on a new name makes it.
    let fresh = "docker.io/library/ctrd-tagged:2";
    tag(ns.client, IMAGE, fresh, CTRD_IMAGE_TAG_FORCE).unwrap();
    assert_eq!(ctr_digest_and_labels(&ns, fresh), source);

    // A missing source: NOT_FOUND in the daemon's words, nothing made.
    let missing = "docker.io/library/nothing:here";
    let (status, msg) = tag(ns.client, missing, "docker.io/library/x:1", 0).unwrap_err();
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert!(
        msg.starts_with(&format!(
            "ctrd_image_tag: image \"{missing}\" in namespace \"{}\"",
            ns.name
        )) && msg.contains("not found"),
        "{msg}"
    );
    let mut names = list(ns.client, None).unwrap();
    names.sort();
    assert_eq!(names, [copy, fresh, IMAGE_NOBODY, IMAGE]);

    // The records are independent: deleting the tags leaves the sources.
    delete(ns.client, copy, 0).unwrap();
    delete(ns.client, fresh, 0).unwrap();
    assert_eq!(ctr_digest_and_labels(&ns, IMAGE), source);
    assert_eq!(ctr_digest_and_labels(&ns, IMAGE_NOBODY), nobody);
    ns.assert_clean();
}

/// Keys listed by `ctr <args>` (first column, header skipped unless `-q`).
fn listed(daemon: &Daemon, ns: &str, args: &[&str]) -> Vec<String> {
    let out = run(daemon.ctr(ns).args(args));
    let skip = usize::from(!args.contains(&"-q"));
    out.lines()
        .skip(skip)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn a_synchronous_delete_returns_after_the_garbage_collector_ran() {
    let daemon = Daemon::shared();
    let ns = format!("imgsync-{}", std::process::id());
    daemon.import_image(&ns);
    let client = connect(&daemon.address(), &ns);
    assert!(!listed(daemon, &ns, &["content", "ls", "-q"]).is_empty());
    let snapshots = ["snapshots", "--snapshotter", "overlayfs", "ls"];
    assert_eq!(listed(daemon, &ns, &snapshots).len(), 1);

    let i = get(client, IMAGE).unwrap();
    delete(client, IMAGE, CTRD_IMAGE_DELETE_SYNC).unwrap();
    // Nothing refers to the blobs and the snapshot any more, and the
    // collector has run: they are gone when the call returns.
    assert_eq!(
        listed(daemon, &ns, &["content", "ls", "-q"]),
        Vec::<String>::new()
    );
    assert_eq!(listed(daemon, &ns, &snapshots), Vec::<String>::new());
    assert_eq!(list(client, None).unwrap(), Vec::<String>::new());
    // The handle stays readable; its content is gone.
    assert_eq!(borrowed(ctrd_image_name(i)), IMAGE);
    let (status, msg) = size(i).unwrap_err();
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    ctrd_image_free(i);
    ctrd_client_free(client);
}

#[test]
fn bad_inputs_get_invalid_argument_with_a_message() {
    let ns = Ns::new("imgbad");
    let i = get(ns.client, IMAGE).unwrap();
    let bad_utf8: &[u8] = &[b'a', 0xff, 0];
    let bad = bad_utf8.as_ptr().cast::<c_char>();
    let name = c(IMAGE);
    let empty = c("");
    let (mut out, mut names, mut len, mut bytes, mut json, mut yes) =
        (null_mut(), null_mut(), 0usize, 0u64, null_mut(), false);

    let mut cases: Vec<(ctrd_status, String, &str)> = Vec::new();
    let mut case =
        |status: ctrd_status, want: &'static str| cases.push((status, last_error(), want));

    case(
        ctrd_image_get(null_mut(), name.as_ptr(), &mut out),
        "ctrd_image_get: client is NULL",
    );
    case(
        ctrd_image_get(ns.client, null(), &mut out),
        "ctrd_image_get: name is NULL",
    );
    case(
        ctrd_image_get(ns.client, bad, &mut out),
        "ctrd_image_get: name is not valid UTF-8",
    );
    case(
        ctrd_image_get(ns.client, empty.as_ptr(), &mut out),
        "ctrd_image_get: name is empty",
    );
    case(
        ctrd_image_get(ns.client, name.as_ptr(), null_mut()),
        "ctrd_image_get: out is NULL",
    );
    case(
        ctrd_image_list(null_mut(), null(), &mut names, &mut len),
        "ctrd_image_list: client is NULL",
    );
    case(
        ctrd_image_list(ns.client, bad, &mut names, &mut len),
        "ctrd_image_list: filter is not valid UTF-8",
    );
    case(
        ctrd_image_list(ns.client, null(), null_mut(), &mut len),
        "ctrd_image_list: names is NULL",
    );
    case(
        ctrd_image_list(ns.client, null(), &mut names, null_mut()),
        "ctrd_image_list: len is NULL",
    );
    case(
        ctrd_image_size(null_mut(), &mut bytes),
        "ctrd_image_size: image is NULL",
    );
    case(
        ctrd_image_size(i, null_mut()),
        "ctrd_image_size: bytes is NULL",
    );
    case(
        ctrd_image_config_json(null_mut(), &mut json),
        "ctrd_image_config_json: image is NULL",
    );
    case(
        ctrd_image_config_json(i, null_mut()),
        "ctrd_image_config_json: json is NULL",
    );
    case(
        ctrd_image_is_unpacked(null_mut(), null(), &mut yes),
        "ctrd_image_is_unpacked: image is NULL",
    );
    case(
        ctrd_image_is_unpacked(i, null(), null_mut()),
        "ctrd_image_is_unpacked: unpacked is NULL",
    );
    case(
        ctrd_image_is_unpacked(i, empty.as_ptr(), &mut yes),
        "ctrd_image_is_unpacked: snapshotter is empty (NULL means overlayfs)",
    );
    case(
        ctrd_image_is_unpacked(i, bad, &mut yes),
        "ctrd_image_is_unpacked: snapshotter is not valid UTF-8",
    );
    let other = c("docker.io/library/ctrd-other:1");
    case(
        ctrd_image_tag(null_mut(), name.as_ptr(), other.as_ptr(), 0),
        "ctrd_image_tag: client is NULL",
    );
    case(
        ctrd_image_tag(ns.client, null(), other.as_ptr(), 0),
        "ctrd_image_tag: name is NULL",
    );
    case(
        ctrd_image_tag(ns.client, name.as_ptr(), null(), 0),
        "ctrd_image_tag: new_name is NULL",
    );
    case(
        ctrd_image_tag(ns.client, bad, other.as_ptr(), 0),
        "ctrd_image_tag: name is not valid UTF-8",
    );
    case(
        ctrd_image_tag(ns.client, name.as_ptr(), bad, 0),
        "ctrd_image_tag: new_name is not valid UTF-8",
    );
    case(
        ctrd_image_tag(ns.client, empty.as_ptr(), other.as_ptr(), 0),
        "ctrd_image_tag: name is empty",
    );
    case(
        ctrd_image_tag(ns.client, name.as_ptr(), empty.as_ptr(), 0),
        "ctrd_image_tag: new_name is empty",
    );
    case(
        ctrd_image_tag(
            ns.client,
            name.as_ptr(),
            other.as_ptr(),
            CTRD_IMAGE_TAG_FORCE | 0x80,
        ),
        "ctrd_image_tag: unknown flags 0x80",
    );
    case(
        ctrd_image_delete(null_mut(), name.as_ptr(), 0),
        "ctrd_image_delete: client is NULL",
    );
    case(
        ctrd_image_delete(ns.client, null(), 0),
        "ctrd_image_delete: name is NULL",
    );
    case(
        ctrd_image_delete(ns.client, bad, 0),
        "ctrd_image_delete: name is not valid UTF-8",
    );
    case(
        ctrd_image_delete(ns.client, empty.as_ptr(), 0),
        "ctrd_image_delete: name is empty",
    );
    case(
        ctrd_image_delete(ns.client, name.as_ptr(), 2),
        "ctrd_image_delete: unknown flags 0x2",
    );
    case(
        ctrd_image_delete(ns.client, name.as_ptr(), CTRD_IMAGE_DELETE_SYNC | 0x80),
        "ctrd_image_delete: unknown flags 0x81",
    );

    for (status, msg, want) in &cases {
        assert_eq!(*status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
        assert!(msg.starts_with(want), "got {msg:?}, want {want:?}");
    }
    // Out-params untouched on failure.
    assert!(out.is_null() && names.is_null() && json.is_null());
    assert_eq!((len, bytes, yes), (0, 0, false));
    // Getters on NULL give "", free of NULL does nothing.
    assert_eq!(borrowed(ctrd_image_name(null())), "");
    assert_eq!(borrowed(ctrd_image_digest(null())), "");
    ctrd_image_free(null_mut());
    // The image was not deleted by the refused calls.
    assert_eq!(list(ns.client, None).unwrap(), [IMAGE]);
    ctrd_image_free(i);
    ns.assert_clean();
}

#[test]
fn unauthenticated_is_a_status_of_its_own() {
    assert_eq!(CTRD_ERR_UNAUTHENTICATED as u32, 14);
    assert_eq!(
        status_name(CTRD_ERR_UNAUTHENTICATED),
        "CTRD_ERR_UNAUTHENTICATED"
    );
    let e = containerd_c::core::Error::from(tonic::Status::unauthenticated("who are you"));
    assert_eq!(ctrd_status::from(e.code), CTRD_ERR_UNAUTHENTICATED);
    let e = containerd_c::core::Error::from(tonic::Status::permission_denied("no"));
    assert_eq!(ctrd_status::from(e.code), CTRD_ERR_PERMISSION_DENIED);
}
