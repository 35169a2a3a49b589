//! Proxies, as `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`
//! name them: which one an origin goes through, and the CONNECT tunnel
//! that https goes in (plain http goes to the proxy in absolute form: see
//! [`Http::request`]).

use std::io;

use hyper::header;
use hyper_util::client::proxy::matcher::Intercept;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Http, Io, Url, USER_AGENT};

/// Most of a proxy's answer to CONNECT read.
const MAX_TUNNEL_ANSWER: usize = 16 << 10;

impl Http {
    /// The proxy for `url`'s origin, if any.
    pub(super) fn proxy(&self, url: &Url) -> Option<Intercept> {
        let origin: hyper::Uri = url.origin().parse().ok()?;
        self.proxies.intercept(&origin)
    }
}

/// Asks the proxy at the other end of `io` for a tunnel to `target`
/// (`host:port`): CONNECT, with the proxy's credentials when it has some.
pub(super) async fn tunnel(
    io: &mut Box<dyn Io>,
    target: &str,
    auth: Option<&header::HeaderValue>,
) -> io::Result<()> {
    let mut ask =
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: {USER_AGENT}\r\n");
    if let Some(auth) = auth.and_then(|a| a.to_str().ok()) {
        ask.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    ask.push_str("\r\n");
    io.write_all(ask.as_bytes()).await?;
    // The answer's head. After a 2xx the proxy sends nothing until the TLS
    // handshake begins; any other answer may have a body (which is not
    // waited for: the head says all there is to say).
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > MAX_TUNNEL_ANSWER {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the proxy's answer to CONNECT is too long",
            ));
        }
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the proxy closed the connection before answering CONNECT",
            ));
        }
        head.extend_from_slice(&buf[..n]);
    };
    let after = head.len() - end;
    let head = String::from_utf8_lossy(&head[..end]);
    let status = head.lines().next().unwrap_or("");
    match status.split(' ').nth(1) {
        Some(code) if code.starts_with('2') && after == 0 => Ok(()),
        Some(code) if code.starts_with('2') => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the proxy sent {after} bytes after its answer to CONNECT ({status})"),
        )),
        Some("407") => Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "the proxy {} for the tunnel to {target} ({status})",
                match auth {
                    Some(_) => "refused the credentials",
                    None => "asks for credentials",
                }
            ),
        )),
        _ => Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("the proxy refused the tunnel to {target}: {status}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::connect::tcp;
    use super::super::HttpError;
    use super::*;
    use crate::core::registry::fake::{fake_server, TUNNEL};
    use hyper_util::client::proxy::matcher::Matcher;
    use std::time::Duration;

    #[tokio::test]
    async fn tunnels_through_a_proxy() {
        let auth = header::HeaderValue::from_static("Basic cHU6cHA=");
        // A proxy whose tunnels lead to an echo server.
        let (addr, seen) = fake_server(|_, _| (200, vec![(TUNNEL, String::new())], vec![])).await;
        let (host, port) = addr.rsplit_once(':').unwrap();
        let mut io = tcp(host, port.parse().unwrap()).await.unwrap();
        tunnel(&mut io, "registry.example:443", Some(&auth))
            .await
            .unwrap();
        {
            let seen = seen.lock().unwrap();
            let connect = &seen[0];
            assert!(
                connect.method == "CONNECT"
                    && connect.path == "registry.example:443"
                    && connect.version == "HTTP/1.1"
                    && connect.header("host") == Some("registry.example:443")
                    && connect.header("proxy-authorization") == Some("Basic cHU6cHA="),
                "{connect:?}"
            );
        }
        // The tunnel carries bytes both ways.
        io.write_all(b"ping").await.unwrap();
        let mut back = [0u8; 4];
        io.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ping");

        let (addr, _) = fake_server(|_, _| (407, vec![], vec![])).await;
        let (host, port) = addr.rsplit_once(':').unwrap();
        let mut io = tcp(host, port.parse().unwrap()).await.unwrap();
        let e = tunnel(&mut io, "r:443", None).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert!(e.to_string().contains("407"), "{e}");

        // A 407 with a body, the connection left open: at once, naming the
        // proxy and the status (not after the connect timeout).
        let (addr, _) = fake_server(|_, _| {
            let challenge = ("Proxy-Authenticate", r#"Basic realm="p""#.into());
            (407, vec![challenge], b"go away now!".to_vec())
        })
        .await;
        let proxies = Matcher::builder().https(format!("http://{addr}")).build();
        let http = Http::new(None, false).unwrap().with_proxies(proxies);
        let url = Url::parse("https://registry.invalid/v2/").unwrap();
        let start = std::time::Instant::now();
        let e = http.get(&url, &[], None).await.err().unwrap();
        let took = start.elapsed();
        eprintln!("a 407 with a body came back in {took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        match e {
            HttpError::Io { doing, error, .. } => {
                assert!(
                    doing.contains(&format!("through proxy http://{addr}")),
                    "{doing}"
                );
                let error = error.to_string();
                assert!(
                    error.contains("the proxy asks for credentials")
                        && error.contains("407 Proxy Authentication Required"),
                    "{error}"
                );
            }
            e => panic!("{e:?}"),
        }
    }
}
