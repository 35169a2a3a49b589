//! Pulls from a registry whose auth is a token server
//! (`scripts/registry.sh --token`: distribution's `auth: token` with an
//! RS256 token server of the harness): the token is asked once per scope
//! for a pull of many blobs, asked again once when the registry refuses it
//! midway (it expired sooner than the token server said), the token
//! server's words for wrong credentials, a user who may only pull.

use super::*;
use front::{blob, Fault, FrontOpts};

/// The token requests this library made (its User-Agent) to `reg`'s token
/// server.
fn our_token_requests(reg: &Registry) -> Vec<Value> {
    reg.issuer_log()
        .into_iter()
        .filter(|e| {
            e["headers"]["user-agent"]
                .as_str()
                .is_some_and(|u| u.starts_with("containerd-c/"))
        })
        .collect()
}

#[test]
fn tokens_from_the_token_server() {
    let reg = Registry::shared_token();
    let space = Space::new("token");
    let reference = reg.reference("busybox:latest");

    // Wrong password: the token server refuses it, in its words.
    let mut o = Opts::for_registry(reg);
    o.secret = Some("wrong".into());
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_UNAUTHENTICATED, "{msg}");
    assert!(
        msg.contains(&reference)
            && msg.contains("the token request failed: HTTP 401 Unauthorized")
            && msg.contains("incorrect username or password"),
        "{msg}"
    );

    // A user who may only pull: pulls.
    let mut o = Opts::for_registry(reg);
    o.username = Some(reg.read_only_user().into());
    let i = pull_ok(&space, &reference, &o);
    assert_eq!(name_of(i), reference);
    let checked = run(space.ctr().args(["images", "check"]));
    assert!(checked.contains("complete"), "{checked}");
    assert_eq!(space.leases(), Vec::<String>::new());
    ctrd_image_free(i);
    let asked = our_token_requests(reg);
    assert!(
        asked.iter().any(|e| e["user"] == "ctrd-ro"
            && e["status"] == 200
            && e["scopes"] == serde_json::json!(["repository:ctrd/busybox:pull"])
            && e["granted"][0]["actions"] == serde_json::json!(["pull"])),
        "{asked:?}"
    );
    assert!(
        asked
            .iter()
            .any(|e| e["user"] == "ctrd" && e["status"] == 401),
        "{asked:?}"
    );
}

/// A pull of an image of six blobs, redirected to object storage: one
/// token request for the repository's pull scope, and the token goes to
/// the registry only.
#[test]
fn one_token_for_a_pull_of_many_blobs() {
    let reg = Registry::start_with(&["--token", "--redirect"]);
    // A daemon of its own: every blob is fetched.
    let daemon = Daemon::start();
    let space = Space::on(&daemon, "token-once");
    let reference = reg.reference("layers:latest");
    let i = pull_with(
        space.client,
        &reference,
        &Opts::for_registry(&reg).no_unpack(),
        None,
    )
    .unwrap();
    let gets = blob_gets(&reg, "layers");
    assert_eq!(gets.len(), 6, "{gets:?}");
    assert!(gets.iter().all(|g| g.1 == 307), "{gets:?}");
    let asked = our_token_requests(&reg);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["status"], 200);
    assert_eq!(
        asked[0]["scopes"],
        serde_json::json!(["repository:ctrd/layers:pull"])
    );
    assert_eq!(asked[0]["service"], "ctrd-test-registry");
    let stored: Vec<Value> = reg
        .storage_log()
        .into_iter()
        .filter(|e| {
            e["headers"]["user-agent"].as_str() == asked[0]["headers"]["user-agent"].as_str()
        })
        .collect();
    assert_eq!(stored.len(), 6, "{stored:?}");
    assert!(
        stored
            .iter()
            .all(|e| e["status"] == 200 && e["headers"].get("authorization").is_none()),
        "{stored:?}"
    );
    let checked = run(space.ctr().args(["images", "check"]));
    assert!(checked.contains("complete"), "{checked}");
    ctrd_image_free(i);
}

/// The registry takes the brief user's tokens for a few seconds while the
/// token server says a minute (as with a skewed clock). A blob request
/// held back past that meets a refusal: the token is asked again, once
/// for each refusal at most, and the pull goes on.
#[test]
fn a_token_that_expires_mid_pull_is_asked_again() {
    let reg = Registry::start_with(&["--token"]);
    let front = Front::start(
        &reg,
        FrontOpts {
            // registry.sh's brief tokens live 4 s.
            faults: vec![(blob, Fault::Delay(Duration::from_secs(6)))],
            ..Default::default()
        },
    );
    let daemon = Daemon::start();
    let space = Space::on(&daemon, "token-expires");
    let reference = format!("{}/ctrd/layers:latest", front.host);
    let mut o = Opts::for_registry(&reg).no_unpack();
    o.username = Some(reg.brief_user().into());
    let i = pull_ok(&space, &reference, &o);
    assert_eq!(front.faults_met().len(), 1);
    let asked = our_token_requests(&reg);
    assert!(
        asked
            .iter()
            .all(|e| e["user"] == "ctrd-brief" && e["status"] == 200),
        "{asked:?}"
    );
    let log = std::fs::read_to_string(reg.dir.join("registry.log")).unwrap();
    let refused = log
        .lines()
        .filter(|l| l.contains("invalid token") && l.contains("containerd-c/"))
        .count();
    assert!(
        asked.len() >= 2 && refused >= 1 && asked.len() - 1 <= refused,
        "{} token requests, {refused} refusals",
        asked.len()
    );
    let checked = run(space.ctr().args(["images", "check"]));
    assert!(checked.contains("complete"), "{checked}");
    ctrd_image_free(i);
}

/// Over TLS the token server is https too (with the registry's CA): the
/// credentials go there, and the pull works.
#[test]
fn tokens_over_tls() {
    let reg = Registry::start_with(&["--token", "--tls"]);
    let space = Space::new("token-tls");
    let reference = reg.reference("busybox:latest");
    let i = pull_ok(&space, &reference, &Opts::for_registry(&reg));
    assert_eq!(name_of(i), reference);
    ctrd_image_free(i);
    let asked = our_token_requests(&reg);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["how"], "basic");
    assert_eq!(asked[0]["status"], 200);
}
