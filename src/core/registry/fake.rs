//! A fake HTTP/1.1 server for the tests of the registry client and of its
//! HTTP client: a registry, a token realm, object storage, a proxy or a
//! server that drops connections, each a function from a request to a
//! canned answer; every request recorded.

use std::sync::Arc;

/// A request the fake server got.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub(super) method: String,
    pub(super) path: String,
    /// The request line's protocol, e.g. `HTTP/1.1`.
    pub(super) version: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: String,
    /// The connection's number, counted from 0.
    pub(super) conn: usize,
}

impl Seen {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A canned answer: status, headers, body.
pub(super) type Reply = (u16, Vec<(&'static str, String)>, Vec<u8>);

/// A fake HTTP/1.1 server on 127.0.0.1 (keep-alive, Content-Length
/// bodies): every request goes to `answer`, and is recorded. Returns
/// its `host:port` and the record. Reply headers [`TRICKLE`], [`CLOSE`],
/// [`CUT`], [`HANG`] and [`TUNNEL`] are not sent but change how the answer
/// goes.
pub(super) async fn fake_server<F>(answer: F) -> (String, Arc<std::sync::Mutex<Vec<Seen>>>)
where
    F: Fn(&Seen, &str) -> Reply + Send + Sync + 'static,
{
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (answer, record, me) = (Arc::new(answer), seen.clone(), host.clone());
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((conn, _)) = listener.accept().await {
            n += 1;
            let number = n - 1;
            let (answer, record, me) = (answer.clone(), record.clone(), me.clone());
            tokio::spawn(async move {
                let mut conn = tokio::io::BufReader::new(conn);
                loop {
                    let mut head = Vec::new();
                    loop {
                        let mut line = String::new();
                        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push(line.trim_end().to_string());
                    }
                    let mut first = head[0].split(' ');
                    let (method, path) = (first.next().unwrap(), first.next().unwrap());
                    let version = first.next().unwrap_or_default();
                    let headers: Vec<(String, String)> = head[1..]
                        .iter()
                        .filter_map(|h| h.split_once(':'))
                        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                        .collect();
                    let mut seen = Seen {
                        method: method.into(),
                        path: path.into(),
                        version: version.into(),
                        headers,
                        body: String::new(),
                        conn: number,
                    };
                    let length = seen
                        .header("content-length")
                        .map_or(0, |l| l.parse::<usize>().unwrap());
                    let mut body = vec![0; length];
                    conn.read_exact(&mut body).await.unwrap();
                    seen.body = String::from_utf8_lossy(&body).into_owned();
                    let (status, headers, body) = answer(&seen, &me);
                    record.lock().unwrap().push(seen);
                    let reason = hyper::StatusCode::from_u16(status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("X");
                    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
                    // `X-Trickle-Ms: n`: the body a byte every n ms.
                    let mut trickle = None;
                    let mut tunnel = false;
                    let mut cut = None;
                    for (k, v) in headers {
                        match k {
                            TRICKLE => trickle = Some(v.parse::<u64>().unwrap()),
                            CLOSE => return,
                            HANG => {
                                // Until the client goes.
                                let mut rest = Vec::new();
                                let _ = conn.read_to_end(&mut rest).await;
                                return;
                            }
                            TUNNEL => tunnel = true,
                            CUT => cut = Some(v.parse::<usize>().unwrap()),
                            _ => out.push_str(&format!("{k}: {v}\r\n")),
                        }
                    }
                    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                    let mut out = out.into_bytes();
                    let conn = conn.get_mut();
                    if let Some(n) = cut {
                        out.extend_from_slice(&body[..n.min(body.len())]);
                        let _ = conn.write_all(&out).await;
                        return;
                    }
                    if let Some(ms) = trickle {
                        if conn.write_all(&out).await.is_err() {
                            return;
                        }
                        for b in body {
                            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                            if conn.write_all(&[b]).await.is_err() {
                                return;
                            }
                        }
                        continue;
                    }
                    out.extend_from_slice(&body);
                    if conn.write_all(&out).await.is_err() {
                        return;
                    }
                    if tunnel {
                        let (mut from, mut to) = conn.split();
                        let _ = tokio::io::copy(&mut from, &mut to).await;
                        return;
                    }
                }
            });
        }
    });
    (host, seen)
}

/// A reply header the fake server takes out: send the body a byte
/// every so many milliseconds.
pub(super) const TRICKLE: &str = "X-Trickle-Ms";

/// A reply header the fake server takes out: close the connection
/// without an answer (the request is recorded).
pub(super) const CLOSE: &str = "X-Close";

/// A reply header the fake server takes out: send the head and this many
/// bytes of the body, then close the connection (cut midway).
pub(super) const CUT: &str = "X-Cut-After";

/// A reply header the fake server takes out: send no answer, and keep the
/// connection open until the client closes it.
pub(super) const HANG: &str = "X-Hang";

/// A reply header the fake server takes out: after this answer, send
/// back whatever comes on the connection, as a proxy's tunnel to an echo
/// server would.
pub(super) const TUNNEL: &str = "X-Tunnel-Echo";

pub(super) fn json(status: u16, body: &str) -> Reply {
    (
        status,
        vec![("Content-Type", "application/json".into())],
        body.as_bytes().to_vec(),
    )
}
