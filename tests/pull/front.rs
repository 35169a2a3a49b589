//! A fake front for a real registry of `scripts/registry.sh`, on threads,
//! one request a connection: it passes requests on to the registry, and
//! may stand in its way as [`FrontOpts`] say — a bearer flow of its own
//! (as Docker Hub's, for a registry with basic auth), corrupt blobs, and
//! faults for the requests it picks (an error status with a
//! `Retry-After`, a reset before any answer or midway through a blob, a
//! request held back). Stops on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;

use crate::common::Registry;

/// The token of a front's own bearer flow.
const FRONT_TOKEN: &str = "front-token-1";

/// What a request the front picks meets instead of the registry's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// An answer of this status (429 and 503 with the registry's error
    /// envelope), with a `Retry-After` of this value when given.
    Status(u16, Option<String>),
    /// The connection reset before any answer.
    Reset,
    /// The registry's answer: its head and this many bytes of its body,
    /// then a reset.
    Cut(usize),
    /// The request held this long, then passed on.
    Delay(Duration),
}

/// How a front stands in the registry's way.
#[derive(Default)]
pub struct FrontOpts {
    /// A bearer flow of its own: `/v2/...` without its token gets a 401
    /// naming the realm `/token`, which hands the token out for the
    /// registry's user and password (basic auth); requests with it go on
    /// with the registry's own credentials. Without: requests go on as
    /// they came, Authorization and all.
    pub token: bool,
    /// The last byte of every blob flipped.
    pub corrupt: bool,
    /// Faults, each for the first request (after those that met the
    /// ones before it) that its pick says yes to; then requests pass.
    pub faults: Vec<(Pick, Fault)>,
}

/// Which requests (method, path) a fault is for.
pub type Pick = fn(&str, &str) -> bool;

/// Any request.
pub fn any(_: &str, _: &str) -> bool {
    true
}

/// A manifest GET.
pub fn manifest(method: &str, path: &str) -> bool {
    method == "GET" && path.contains("/manifests/")
}

/// A blob GET.
pub fn blob(method: &str, path: &str) -> bool {
    method == "GET" && path.contains("/blobs/")
}

/// Every request a front saw: method, path, the fault it met.
type Requests = Arc<Mutex<Vec<(String, String, Option<Fault>)>>>;

pub struct Front {
    pub host: String,
    stop: Arc<AtomicBool>,
    /// Token requests of the front's bearer flow: whether their
    /// credentials were right.
    pub tokens: Arc<Mutex<Vec<bool>>>,
    /// Requests passed on to the registry.
    pub forwarded: Arc<AtomicUsize>,
    /// Every request: method, path, the fault it met.
    pub seen: Requests,
}

/// One request's head as read.
struct Head {
    method: String,
    path: String,
    lines: Vec<String>,
}

impl Head {
    fn read(reader: &mut BufReader<TcpStream>) -> Option<Head> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return None;
            }
            if line == "\r\n" {
                break;
            }
            lines.push(line.trim_end().to_string());
        }
        let mut first = lines.first()?.split(' ');
        let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
        Some(Head {
            method,
            path,
            lines,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.lines[1..].iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Resets `conn`: SO_LINGER 0, so that closing it sends an RST.
fn reset(conn: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket this thread owns, with a valid
    // linger struct of the size passed.
    unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(conn);
}

fn reply(client: &mut TcpStream, status: &str, extra: &str, body: &str) {
    let _ = write!(
        client,
        "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

impl Front {
    /// The front's own bearer flow before `reg` (see [`FrontOpts::token`]).
    pub fn start_token(reg: &Registry, corrupt: bool) -> Front {
        Front::start(
            reg,
            FrontOpts {
                token: true,
                corrupt,
                ..Default::default()
            },
        )
    }

    pub fn start(reg: &Registry, opts: FrontOpts) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let front = Front {
            host: host.clone(),
            stop: Arc::new(AtomicBool::new(false)),
            tokens: Arc::default(),
            forwarded: Arc::default(),
            seen: Arc::default(),
        };
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                reg.user(),
                reg.password()
            ))
        );
        let shared = Arc::new(Shared {
            me: host,
            upstream: reg.host().to_string(),
            basic,
            token: opts.token,
            corrupt: opts.corrupt,
            faults: Mutex::new(opts.faults),
            tokens: front.tokens.clone(),
            forwarded: front.forwarded.clone(),
            seen: front.seen.clone(),
        });
        let stopping = front.stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::Acquire) {
                    break;
                }
                let Ok(client) = client else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || shared.serve(client));
            }
        });
        front
    }

    /// The faults requests met so far.
    pub fn faults_met(&self) -> Vec<Fault> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter_map(|(_, _, f)| f.clone()).collect()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the accept.
        let _ = TcpStream::connect(&self.host);
    }
}

/// What a front's connections share.
struct Shared {
    me: String,
    upstream: String,
    basic: String,
    token: bool,
    corrupt: bool,
    faults: Mutex<Vec<(Pick, Fault)>>,
    tokens: Arc<Mutex<Vec<bool>>>,
    forwarded: Arc<AtomicUsize>,
    seen: Requests,
}

impl Shared {
    fn serve(&self, mut client: TcpStream) {
        let mut reader = BufReader::new(client.try_clone().unwrap());
        let Some(head) = Head::read(&mut reader) else {
            return;
        };
        let auth = head.header("authorization").unwrap_or("").to_string();
        let fault = {
            let mut faults = self.faults.lock().unwrap();
            let i = faults
                .iter()
                .position(|(pick, _)| pick(&head.method, &head.path));
            i.map(|i| faults.remove(i).1)
        };
        self.seen
            .lock()
            .unwrap()
            .push((head.method.clone(), head.path.clone(), fault.clone()));
        match &fault {
            Some(Fault::Status(status, after)) => {
                let reason = match status {
                    429 => "Too Many Requests",
                    502 => "Bad Gateway",
                    503 => "Service Unavailable",
                    504 => "Gateway Timeout",
                    _ => "Error",
                };
                let extra = after
                    .as_ref()
                    .map_or(String::new(), |a| format!("Retry-After: {a}\r\n"));
                let body = format!(
                    r#"{{"errors":[{{"code":"TOOMANYREQUESTS","message":"the front says {status}"}}]}}"#
                );
                return reply(&mut client, &format!("{status} {reason}"), &extra, &body);
            }
            Some(Fault::Reset) => return reset(client),
            Some(Fault::Delay(d)) => std::thread::sleep(*d),
            Some(Fault::Cut(_)) | None => {}
        }
        if self.token && head.path.starts_with("/token") {
            let right = auth == self.basic;
            self.tokens.lock().unwrap().push(right);
            if right {
                let body = format!(
                    "{{\"token\":\"{FRONT_TOKEN}\",\"access_token\":\"{FRONT_TOKEN}\",\"expires_in\":300}}"
                );
                reply(&mut client, "200 OK", "", &body);
            } else {
                reply(&mut client, "401 Unauthorized", "", "{}");
            }
            return;
        }
        if self.token && auth != format!("Bearer {FRONT_TOKEN}") {
            let challenge = format!(
                "WWW-Authenticate: Bearer realm=\"http://{}/token\",\
                 service=\"front\",scope=\"repository:ctrd/busybox:pull\"\r\n",
                self.me
            );
            return reply(&mut client, "401 Unauthorized", &challenge, "{}");
        }
        self.forwarded.fetch_add(1, Ordering::Relaxed);
        let Ok(mut server) = TcpStream::connect(&self.upstream) else {
            return;
        };
        let mut out = format!("{} {} HTTP/1.1\r\n", head.method, head.path);
        let dropped: &[&str] = if self.token {
            &["authorization", "connection", "host"]
        } else {
            &["connection", "host"]
        };
        for h in &head.lines[1..] {
            let name = h.split(':').next().unwrap_or("").to_ascii_lowercase();
            if !dropped.contains(&name.as_str()) {
                out.push_str(h);
                out.push_str("\r\n");
            }
        }
        out.push_str(&format!("Host: {}\r\n", self.upstream));
        if self.token {
            out.push_str(&format!("Authorization: {}\r\n", self.basic));
        }
        out.push_str("Connection: close\r\n\r\n");
        if server.write_all(out.as_bytes()).is_err() {
            return;
        }
        let blob = head.method == "GET" && head.path.contains("/blobs/");
        if let Some(Fault::Cut(n)) = fault {
            // The head and `n` bytes of the body, then a reset.
            let mut answer = Vec::new();
            let _ = server.read_to_end(&mut answer);
            let body_at = answer
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(answer.len(), |p| p + 4);
            let _ = client.write_all(&answer[..(body_at + n).min(answer.len())]);
            let _ = client.flush();
            return reset(client);
        }
        if self.corrupt && blob {
            // The whole answer, its body's last byte flipped.
            let mut answer = Vec::new();
            let _ = server.read_to_end(&mut answer);
            if let Some(last) = answer.last_mut() {
                *last ^= 0xff;
            }
            let _ = client.write_all(&answer);
            return;
        }
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n) = server.read(&mut buf) {
            if n == 0 || client.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    }
}
