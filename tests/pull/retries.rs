//! Pulls through a hostile front of the real registry (`front::Front`)
//! that answers 429 with a `Retry-After`, 502, 503 or 504, resets the
//! connection before an answer or midway through a blob: each is tried
//! again (a blob resumed with a range), and the count reaches the
//! progress callback; a `Retry-After` past the call's deadline fails at
//! once.

use super::*;
use front::{any, blob, manifest, Fault, FrontOpts};

#[test]
fn passing_failures_are_retried_and_counted() {
    let reg = Registry::shared(false);
    let front = Front::start(
        reg,
        FrontOpts {
            faults: vec![
                (any, Fault::Status(429, Some("1".into()))),
                (any, Fault::Status(503, None)),
                (any, Fault::Reset),
                (manifest, Fault::Status(504, None)),
                (manifest, Fault::Status(502, None)),
                (blob, Fault::Cut(100)),
            ],
            ..Default::default()
        },
    );
    // A daemon of its own: every blob is fetched.
    let daemon = Daemon::start();
    let space = Space::on(&daemon, "retries");
    let reference = format!("{}/ctrd/layers:latest", front.host);
    let watch = Watch::default();
    let o = Opts::for_registry(reg).no_unpack();
    let i = pull_with(space.client, &reference, &o, Some(&watch)).unwrap();
    assert_eq!(front.faults_met().len(), 6, "{:?}", front.faults_met());
    let calls = watch.calls.lock().unwrap().clone();
    assert_eq!(calls.last().unwrap().0, "done");
    assert_eq!(*watch.retries.lock().unwrap(), 6);
    // The blob cut after 100 bytes came again from there.
    let cut = front
        .seen
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.2 == Some(Fault::Cut(100)))
        .map(|r| r.1.clone())
        .unwrap();
    let digest = cut.rsplit('/').next().unwrap().to_string();
    let gets = blob_gets(reg, "layers");
    assert!(gets.iter().any(|g| g.0 == digest && g.1 == 206), "{gets:?}");
    let checked = run(space.ctr().args(["images", "check"]));
    assert!(checked.contains("complete"), "{checked}");
    ctrd_image_free(i);
}

/// A `Retry-After` as an HTTP date is waited for; one that ends past the
/// call's deadline fails the pull at once with DEADLINE_EXCEEDED and the
/// registry's words.
#[test]
fn retry_after_within_the_deadline() {
    let reg = Registry::shared(false);
    let space = Space::new("retry-after");
    let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    // Whole seconds, as the date has them.
    let at = httpdate::parse_http_date(&date).unwrap();
    let front = Front::start(
        reg,
        FrontOpts {
            faults: vec![(manifest, Fault::Status(503, Some(date)))],
            ..Default::default()
        },
    );
    let watch = Watch::default();
    let mut o = Opts::for_registry(reg).no_unpack();
    o.timeout_ms = 60_000;
    let reference = format!("{}/ctrd/busybox:latest", front.host);
    let i = pull_with(space.client, &reference, &o, Some(&watch)).unwrap();
    assert!(std::time::SystemTime::now() >= at);
    assert_eq!(*watch.retries.lock().unwrap(), 1);
    ctrd_image_free(i);

    let front = Front::start(
        reg,
        FrontOpts {
            faults: vec![(manifest, Fault::Status(429, Some("3600".into())))],
            ..Default::default()
        },
    );
    o.timeout_ms = 20_000;
    let reference = format!("{}/ctrd/busybox:latest", front.host);
    let start = Instant::now();
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_DEADLINE_EXCEEDED, "{msg}");
    assert!(
        msg.contains(&reference)
            && msg.contains("the front says 429")
            && msg.contains("the registry asks to retry in 3600.0 s, past the call's deadline"),
        "{msg}"
    );
    // It did not wait for the deadline.
    let took = start.elapsed();
    eprintln!("a Retry-After past the deadline: the pull failed in {took:?}");
    assert!(took < Duration::from_secs(20));
}
