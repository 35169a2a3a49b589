//! Prints what one blocking call costs through each way a C thread can wait
//! on the runtime, against a real private containerd (Version and two
//! Containers.Get-shaped round trips). Figures, not assertions.
//!
//! `cargo bench --bench calls` (starts its own private daemon through
//! scripts/daemon.sh; set CONTAINERD_ADDRESS to use a running one).

use std::process::Command;
use std::time::Instant;

use containerd_c::core::Client;
use containerd_c::runtime;

const CALLS: u32 = 2000;

fn per_call(label: &str, mut f: impl FnMut()) {
    for _ in 0..200 {
        f(); // warm up
    }
    let start = Instant::now();
    for _ in 0..CALLS {
        f();
    }
    let each = start.elapsed() / CALLS;
    println!(
        "{label:<58} {:>7.1} µs/call",
        each.as_nanos() as f64 / 1000.0
    );
}

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut owned_dir = None;
    let address = match std::env::var("CONTAINERD_ADDRESS") {
        Ok(a) => a,
        Err(_) => {
            let dir = format!("/tmp/ctrd-bench-{}", std::process::id());
            let out = Command::new(format!("{root}/scripts/daemon.sh"))
                .args([
                    "start",
                    &dir,
                    "--owner-pid",
                    &std::process::id().to_string(),
                ])
                .output()
                .expect("scripts/daemon.sh");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            owned_dir = Some(dir);
            String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .lines()
                .last()
                .unwrap()
                .to_string()
        }
    };
    let client = std::sync::Arc::new(Client::connect(Some(&address), Some("default")).unwrap());

    println!("one Version call, {CALLS} times, containerd at {address}");
    let c = client.clone();
    per_call(
        "spawn on the runtime, caller parks (runtime::block_on_shared)",
        || {
            let c = c.clone();
            runtime::block_on_shared(async move { c.server_version().await }).unwrap();
        },
    );
    let c = client.clone();
    per_call(
        "the thread's own runtime and connection (runtime::block_on)",
        || {
            let c = c.clone();
            runtime::block_on(async move { c.server_version().await }).unwrap();
        },
    );
    let c = client.clone();
    let in_task = runtime::block_on_shared(async move {
        let start = Instant::now();
        for _ in 0..CALLS {
            c.server_version().await?;
        }
        Ok(start.elapsed() / CALLS)
    })
    .unwrap();
    println!(
        "{:<58} {:>7.1} µs/call",
        "inside one runtime task (no C boundary at all)",
        in_task.as_nanos() as f64 / 1000.0
    );

    // The floor for one call: h2 straight over the socket on a
    // current-thread runtime, the request's HEADERS and DATA frames sent
    // together (one write), no tonic, no buffer task.
    let socket = address.trim_start_matches("unix://").to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut h2client = rt.block_on(async {
        let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
        let (client, conn) = h2::client::handshake(stream).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    });
    per_call("bare h2 on the thread's own runtime (a floor)", || {
        rt.block_on(async {
            let ready = h2client.clone().ready().await.unwrap();
            h2client = ready;
            let req = tonic::codegen::http::Request::builder()
                .method("POST")
                .uri("http://localhost/containerd.services.version.v1.Version/Version")
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .header("containerd-namespace", "default")
                .body(())
                .unwrap();
            let (response, mut send) = h2client.send_request(req, false).unwrap();
            send.send_data(prost::bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true)
                .unwrap();
            let mut body = response.await.unwrap().into_body();
            while let Some(chunk) = body.data().await {
                let n = chunk.unwrap().len();
                let _ = body.flow_control().release_capacity(n);
            }
            let trailers = body.trailers().await.unwrap().unwrap();
            assert_eq!(trailers.get("grpc-status").unwrap(), "0");
        })
    });

    println!("\ntwo sequential calls per operation (like load = Get + Get)");
    let c = client.clone();
    per_call("spawn on the runtime, caller parks", || {
        let c = c.clone();
        runtime::block_on_shared(async move {
            c.server_version().await?;
            c.server_version().await
        })
        .unwrap();
    });
    let c = client.clone();
    per_call("the thread's own runtime and connection", || {
        let c = c.clone();
        runtime::block_on(async move {
            c.server_version().await?;
            c.server_version().await
        })
        .unwrap();
    });

    let threads = 8;
    for (label, own) in [("spawn and park", false), ("runtime::block_on", true)] {
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                let c = client.clone();
                s.spawn(move || {
                    for _ in 0..CALLS / 4 {
                        let c = c.clone();
                        if own {
                            runtime::block_on(async move { c.server_version().await }).unwrap();
                        } else {
                            runtime::block_on_shared(async move { c.server_version().await })
                                .unwrap();
                        }
                    }
                });
            }
        });
        let total = threads * CALLS / 4;
        println!(
            "\n{threads} C threads at once ({label}): {total} calls in {:?} = {:.0} calls/s",
            start.elapsed(),
            total as f64 / start.elapsed().as_secs_f64()
        );
    }

    if let Some(dir) = owned_dir {
        let _ = Command::new(format!("{root}/scripts/daemon.sh"))
            .args(["stop", &dir])
            .status();
    }
}
