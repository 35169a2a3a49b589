//! The Rust-core side of scripts/bench-calls.sh: the operations of
//! examples-c/bench/calls_bench.c made through `containerd_c::core`
//! directly, inside the library's runtime (each operation's loop runs in one
//! runtime task and times every call there: no C boundary, no thread
//! hand-over). Figures, not assertions. Op a here is "the same call made
//! inside a runtime task" that the C call is compared with.
//!
//! `cargo bench --bench ops -- --container ID [options]` against the daemon
//! of $CONTAINERD_ADDRESS in $CONTAINERD_NAMESPACE; the options and the output
//! lines are those of calls_bench.c (`--help` lists them), except that
//! `--container` (a running container, for ops b, c, e) is required when
//! those ops are measured. Op d also prints one `step=d.NAME` line per step.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use containerd_c::core::container::{spec_json, NewContainer};
use containerd_c::core::image::snapshot::DEFAULT_SNAPSHOTTER;
use containerd_c::core::stdio::fifo::IoPaths;
use containerd_c::core::Client;
use containerd_c::{runtime, Result};

struct Opts {
    container: Option<String>,
    image: String,
    ops: Vec<String>,
    n: usize,
    warmup: usize,
    n_lifecycle: usize,
    threads: usize,
    n_threaded: usize,
    first: bool,
    rss: usize,
}

const USAGE: &str = "usage: ops [--container ID] [--image IMAGE] [--ops a,b,c,d,e] [--n N] \
                     [--warmup N] [--n-lifecycle N] [--threads N] [--n-threaded N] [--first] \
                     [--rss N]";

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("ops: {msg}");
    std::process::exit(1);
}

fn parse_args() -> Opts {
    let mut o = Opts {
        container: None,
        image: "docker.io/library/ctrd-test:latest".into(),
        ops: "a,b,c,d,e".split(',').map(String::from).collect(),
        n: 2000,
        warmup: 200,
        n_lifecycle: 30,
        threads: 16,
        n_threaded: 500,
        first: false,
        rss: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            // cargo bench passes --bench to a harness-less bench.
            "--bench" => continue,
            "--first" => {
                o.first = true;
                continue;
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => {}
        }
        let v = args.next().unwrap_or_else(|| die(USAGE));
        let count = || -> usize {
            match v.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => die(format!("{a}: a positive count, not {v:?}")),
            }
        };
        match a.as_str() {
            "--container" => o.container = Some(v.clone()),
            "--image" => o.image = v.clone(),
            "--ops" => o.ops = v.split(',').map(String::from).collect(),
            "--n" => o.n = count(),
            "--warmup" => o.warmup = count(),
            "--n-lifecycle" => o.n_lifecycle = count(),
            "--threads" => o.threads = count(),
            "--n-threaded" => o.n_threaded = count(),
            "--rss" => o.rss = count(),
            _ => die(USAGE),
        }
    }
    o
}

/// Nearest rank, as calls_bench.c and the Go comparator compute it.
fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((q * sorted.len() as f64 + 0.5) as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1);
    sorted[i].as_nanos() as f64 / 1000.0
}

fn report(op: &str, mut samples: Vec<Duration>, elapsed: Duration, threads: usize) {
    samples.sort();
    let extra = if threads > 0 {
        format!(" threads={threads}")
    } else {
        String::new()
    };
    println!(
        "op={op} n={}{extra} median_us={:.1} p99_us={:.1} ops_s={:.0}",
        samples.len(),
        quantile(&samples, 0.5),
        quantile(&samples, 0.99),
        samples.len() as f64 / elapsed.as_secs_f64()
    );
}

/// Runs `warm` unmeasured then `n` timed calls of `f`, all inside one task
/// on the library's runtime.
fn measure<F, Fut>(op: &'static str, client: &Arc<Client>, warm: usize, n: usize, f: F)
where
    F: Fn(Arc<Client>, usize) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let c = client.clone();
    let (samples, elapsed) = runtime::block_on(async move {
        for i in 0..warm {
            f(c.clone(), i).await?;
        }
        let mut samples = Vec::with_capacity(n);
        let start = Instant::now();
        for i in 0..n {
            let t = Instant::now();
            f(c.clone(), warm + i).await?;
            samples.push(t.elapsed());
        }
        Ok((samples, start.elapsed()))
    })
    .unwrap_or_else(|e| die(format!("op {op}: {e}")));
    report(op, samples, elapsed, 0);
}

async fn op_b(c: &Client, id: &str) -> Result<()> {
    let record = c.get_container(id).await?;
    let spec = spec_json(&record)?;
    std::hint::black_box(spec);
    Ok(())
}

/// The steps of op d, as calls_bench.c names them.
const D_STEPS: [&str; 8] = [
    "spec",
    "snapshot",
    "create",
    "new_task",
    "start",
    "wait",
    "delete_task",
    "delete_container",
];

/// Op d; returns how long each of its steps took.
async fn lifecycle(c: &Client, image: &str, id: &str) -> Result<[Duration; 8]> {
    let mut at = [Instant::now(); 9];
    let spec = c
        .generate_spec(id, Some(image), Some(vec!["true".to_string()]))
        .await?;
    at[1] = Instant::now();
    c.prepare_snapshot_from_image(image, DEFAULT_SNAPSHOTTER, id)
        .await?;
    at[2] = Instant::now();
    c.create_container(&NewContainer {
        id: id.to_string(),
        spec_json: spec,
        image: Some(image.to_string()),
        snapshot_key: Some(id.to_string()),
        ..Default::default()
    })
    .await?;
    at[3] = Instant::now();
    c.create_task(id, &IoPaths::default(), None, None).await?;
    at[4] = Instant::now();
    c.start_process(id, "").await?;
    at[5] = Instant::now();
    let status = c.wait_process(id, "", None).await?;
    at[6] = Instant::now();
    if status != 0 {
        die(format!("{id}: `true` exited with {status}"));
    }
    c.delete_task(id, false).await?;
    at[7] = Instant::now();
    c.delete_container(id, false).await?;
    at[8] = Instant::now();
    Ok(std::array::from_fn(|i| at[i + 1] - at[i]))
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| die("no VmRSS in /proc/self/status"))
}

/// A client from $CONTAINERD_ADDRESS and $CONTAINERD_NAMESPACE (made inside
/// the runtime, which its channel needs).
fn connect() -> Arc<Client> {
    Arc::new(
        runtime::block_on(async { Client::connect(None, None) })
            .unwrap_or_else(|e| die(format!("connect: {e}"))),
    )
}

fn main() {
    let t0 = Instant::now();
    if std::env::args().nth(1).as_deref() == Some("--first-child") {
        let c = connect();
        runtime::block_on(async move { c.server_version().await })
            .unwrap_or_else(|e| die(format!("first call: {e}")));
        println!("{}", t0.elapsed().as_micros());
        return;
    }
    let o = parse_args();
    let want = |op: &str| o.ops.iter().any(|x| x == op);
    let client = connect();
    let container = || -> String {
        o.container
            .clone()
            .unwrap_or_else(|| die("ops b, c and e need --container ID (a running container)"))
    };

    if want("a") {
        measure("a", &client, o.warmup, o.n, |c, _| async move {
            c.server_version().await.map(drop)
        });
    }
    if want("b") {
        let id = Arc::new(container());
        measure("b", &client, o.warmup, o.n, move |c, _| {
            let id = id.clone();
            async move { op_b(&c, &id).await }
        });
    }
    if want("c") {
        let id = Arc::new(container());
        // Loading the container first, as calls_bench.c does.
        let (c2, id2) = (client.clone(), id.clone());
        runtime::block_on(async move { c2.get_container(&id2).await })
            .unwrap_or_else(|e| die(format!("load {id}: {e}")));
        measure("c", &client, o.warmup, o.n, move |c, _| {
            let id = id.clone();
            async move { c.get_process(&id, "").await.map(drop) }
        });
    }
    if want("d") {
        const WARM: usize = 3;
        let image = Arc::new(o.image.clone());
        let pid = std::process::id();
        let steps = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = steps.clone();
        measure("d", &client, WARM, o.n_lifecycle, move |c, i| {
            let (image, steps) = (image.clone(), s2.clone());
            async move {
                let d = lifecycle(&c, &image, &format!("ops-d-{pid}-{i}")).await?;
                if i >= WARM {
                    steps.lock().unwrap().push(d);
                }
                Ok(())
            }
        });
        let steps = steps.lock().unwrap();
        for (j, name) in D_STEPS.iter().enumerate() {
            let mut s: Vec<Duration> = steps.iter().map(|d| d[j]).collect();
            s.sort();
            println!(
                "step=d.{name} n={} median_us={:.1}",
                s.len(),
                quantile(&s, 0.5)
            );
        }
    }
    if want("e") {
        let id = Arc::new(container());
        let (threads, per) = (o.threads, o.n_threaded);
        let c = client.clone();
        let (samples, elapsed) = runtime::block_on(async move {
            for _ in 0..50 {
                op_b(&c, &id).await?;
            }
            let start = Instant::now();
            let tasks: Vec<tokio::task::JoinHandle<Result<Vec<Duration>>>> = (0..threads)
                .map(|_| {
                    let (c, id) = (c.clone(), id.clone());
                    tokio::spawn(async move {
                        let mut s = Vec::with_capacity(per);
                        for _ in 0..per {
                            let t = Instant::now();
                            op_b(&c, &id).await?;
                            s.push(t.elapsed());
                        }
                        Result::<Vec<Duration>>::Ok(s)
                    })
                })
                .collect();
            let mut all = Vec::with_capacity(threads * per);
            for t in tasks {
                all.extend(t.await.map_err(runtime::join_error)??);
            }
            Ok((all, start.elapsed()))
        })
        .unwrap_or_else(|e| die(format!("op e: {e}")));
        report("e", samples, elapsed, threads);
    }
    if o.first {
        let start = Instant::now();
        let exe = std::env::current_exe().unwrap_or_else(|e| die(e));
        let out = Command::new(exe)
            .arg("--first-child")
            .output()
            .unwrap_or_else(|e| die(format!("first-call child: {e}")));
        if !out.status.success() {
            die(format!(
                "first-call child: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        println!(
            "first_call_us={} process_us={}",
            String::from_utf8_lossy(&out.stdout).trim(),
            start.elapsed().as_micros()
        );
    }
    if o.rss > 0 {
        let (c, n) = (client.clone(), o.rss);
        runtime::block_on(async move {
            for i in 1..=n {
                c.server_version().await?;
                if i == 1000 || i == n {
                    println!("rss_kib_after={i} value={}", rss_kib());
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| die(format!("rss: {e}")));
    }
}
