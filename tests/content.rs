//! The content store writer the pull and the import stream blobs through,
//! against the real private containerd: a blob written in uneven pieces
//! reads back whole, a write cut short resumes from where the daemon got to
//! (or restarts), a wrong digest is refused at commit, a present blob needs
//! no writer, and labels set afterwards are the ones `ctr` shows.

mod common;

use common::*;
use containerd_c::core::{Client, Code};
use containerd_c::runtime::block_on;
use sha2::{Digest, Sha256};
use std::sync::Arc;

fn blob(len: usize, seed: u8) -> (Vec<u8>, String) {
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect();
    let digest = format!("sha256:{:x}", Sha256::digest(&data));
    (data, digest)
}

fn client(ns: &Ns) -> Arc<Client> {
    Arc::new(Client::connect(Some(&Daemon::shared().address()), Some(&ns.name)).unwrap())
}

/// Writes `data` in pieces of `piece` bytes.
async fn write_all(c: &Client, lease: &str, reference: &str, data: &[u8], digest: &str) {
    let mut w = c
        .content_writer(lease, reference, digest, data.len() as u64)
        .await
        .unwrap()
        .expect("a new blob needs a writer");
    assert_eq!(w.offset(), 0);
    for piece in data.chunks(77_777) {
        w.write(piece).await.unwrap();
    }
    w.commit([("test.label".to_string(), "x".to_string())].into())
        .await
        .unwrap();
}

#[test]
fn blobs_are_written_in_pieces_resumed_and_checked() {
    let ns = Ns::new("content");
    let c = client(&ns);
    let lease = format!("content-test-{}", std::process::id());
    let (daemon, name) = (ns.daemon, ns.name.clone());
    block_on(async move {
        c.create_lease(&lease).await?;

        // Uneven pieces across several 1 MiB messages read back whole.
        let (data, digest) = blob(3 << 20 | 12_345, 1);
        write_all(&c, &lease, "t-whole", &data, &digest).await;
        let back = c.read_content_all("read", &digest).await?;
        assert!(back == data, "the blob read back differs");
        let info = c
            .content_info(&digest)
            .await?
            .expect("committed blob has info");
        assert_eq!(info.size, data.len() as i64);
        assert_eq!(info.labels.get("test.label").map(String::as_str), Some("x"));

        // Present now: no writer.
        assert!(c
            .content_writer(&lease, "t-again", &digest, data.len() as u64)
            .await?
            .is_none());

        // Cut short after 2 MiB: a new writer of the ref resumes there.
        let (data, digest) = blob(5 << 20, 2);
        {
            let mut w = c
                .content_writer(&lease, "t-resume", &digest, data.len() as u64)
                .await?
                .unwrap();
            w.write(&data[..2 << 20]).await?;
            w.write(&[]).await?;
            // Dropped without commit: the stream ends after what was sent
            // arrives, and the daemon keeps it under the ref.
        }
        let mut w = loop {
            match c
                .content_writer(&lease, "t-resume", &digest, data.len() as u64)
                .await
            {
                Ok(w) => break w.unwrap(),
                // The old stream may hold the ref's lock for a moment.
                Err(e) if e.code == Code::Unavailable => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                Err(e) => return Err(e),
            }
        };
        assert_eq!(w.offset(), 2 << 20, "the daemon kept the first 2 MiB");
        let at = w.offset() as usize;
        w.write(&data[at..]).await?;
        w.commit(Default::default()).await?;
        assert!(c.read_content_all("read", &digest).await? == data);

        // Restart: what the daemon had is dropped, all is sent again.
        let (data, digest) = blob(3 << 20, 3);
        {
            let mut w = c
                .content_writer(&lease, "t-restart", &digest, data.len() as u64)
                .await?
                .unwrap();
            w.write(&vec![0u8; 1 << 20]).await?; // wrong bytes
            w.write(&[1]).await?;
        }
        let mut w = loop {
            match c
                .content_writer(&lease, "t-restart", &digest, data.len() as u64)
                .await
            {
                Ok(w) => break w.unwrap(),
                Err(e) if e.code == Code::Unavailable => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                Err(e) => return Err(e),
            }
        };
        w.restart().await?;
        assert_eq!(w.offset(), 0);
        w.write(&data).await?;
        w.commit(Default::default()).await?;
        assert!(c.read_content_all("read", &digest).await? == data);

        // A digest that does not match is refused at commit.
        let (data, _) = blob(100_000, 4);
        let (_, other) = blob(100_000, 5);
        let mut w = c
            .content_writer(&lease, "t-wrong", &other, data.len() as u64)
            .await?
            .unwrap();
        w.write(&data).await?;
        let e = w.commit(Default::default()).await.unwrap_err();
        assert!(
            e.message.contains(&other[7..19]) || e.message.contains("digest"),
            "{e}"
        );
        assert!(c.content_info(&other).await?.is_none());

        // Labels set afterwards; an empty value removes one.
        let (_, digest) = blob(3 << 20 | 12_345, 1);
        c.set_content_labels(&digest, [("a.b".to_string(), "1".to_string())].into())
            .await?;
        c.set_content_labels(&digest, [("test.label".to_string(), String::new())].into())
            .await?;
        let labels = c.content_info(&digest).await?.unwrap().labels;
        assert_eq!(labels.get("a.b").map(String::as_str), Some("1"));
        assert!(!labels.contains_key("test.label"), "{labels:?}");
        let shown = run(daemon.ctr(&name).args(["content", "ls"]));
        assert!(shown.contains("a.b=1"), "{shown}");

        c.delete_lease(&lease).await
    })
    .unwrap();
}

/// A blob read into memory (a config, a manifest) is read no further than
/// its descriptor's size, which must be the stored blob's: a descriptor
/// that says less or more is not trusted, and one too large is refused
/// before reading.
#[test]
fn blobs_read_into_memory_are_bounded_by_their_descriptor() {
    let ns = Ns::new("content-bounded");
    let c = client(&ns);
    let lease = format!("content-bounded-{}", std::process::id());
    block_on(async move {
        c.create_lease(&lease).await?;
        let (data, digest) = blob(100_000, 7);
        write_all(&c, &lease, "t-bounded", &data, &digest).await;
        assert!(c.read_blob("config", &digest, 100_000).await? == data);
        let e = c.read_blob("config", &digest, 10).await.unwrap_err();
        assert_eq!(e.code, Code::FailedPrecondition, "{}", e.message);
        assert!(
            e.message.contains(&digest) && e.message.contains("more than 10 bytes"),
            "{}",
            e.message
        );
        let e = c.read_blob("config", &digest, 100_001).await.unwrap_err();
        assert_eq!(e.code, Code::FailedPrecondition, "{}", e.message);
        assert!(e.message.contains("has 100000 bytes"), "{}", e.message);
        let e = c.read_blob("config", &digest, 1 << 30).await.unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{}", e.message);
        assert!(e.message.contains("1073741824 bytes"), "{}", e.message);
        c.delete_lease(&lease).await
    })
    .unwrap();
}
