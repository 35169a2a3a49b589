//! Pulls from a registry that redirects blobs to object storage
//! (`scripts/registry.sh --redirect`: distribution's `redirect` storage
//! middleware, a static file server as the CDN): the blobs come from the
//! file server, and the registry's credentials never reach it.

use super::*;

#[test]
fn blobs_through_redirects() {
    let reg = Registry::start_with(&["--redirect"]);
    // A daemon of its own: every blob is fetched.
    let daemon = Daemon::start();
    let space = Space::on(&daemon, "redirects");
    let reference = reg.reference("layers:latest");
    let i = pull_with(
        space.client,
        &reference,
        &Opts::for_registry(&reg).no_unpack(),
        None,
    )
    .unwrap();
    // The registry redirected each blob GET; the file server served them.
    let gets = blob_gets(&reg, "layers");
    assert_eq!(gets.len(), 6, "{gets:?}");
    assert!(gets.iter().all(|g| g.1 == 307), "{gets:?}");
    let ours: Vec<Value> = reg
        .storage_log()
        .into_iter()
        .filter(|e| {
            e["headers"]["user-agent"]
                .as_str()
                .is_some_and(|u| u.starts_with("containerd-c/"))
        })
        .collect();
    assert_eq!(ours.len(), 6, "{ours:?}");
    for e in &ours {
        assert_eq!(e["method"], "GET", "{e}");
        assert_eq!(e["status"], 200, "{e}");
        let path = e["path"].as_str().unwrap();
        assert!(path.starts_with("/docker/registry/v2/blobs/sha256/"), "{e}");
        assert!(
            gets.iter()
                .any(|g| path.contains(g.0.trim_start_matches("sha256:"))),
            "{e}"
        );
        assert!(e["headers"].get("authorization").is_none(), "{e}");
    }
    let checked = run(space.ctr().args(["images", "check"]));
    assert!(checked.contains("complete"), "{checked}");
    ctrd_image_free(i);
}
