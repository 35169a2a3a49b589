//! Connections: opened to an origin directly or through its proxy (TCP,
//! then TLS for https), within a time limit, and kept ones taken back for
//! the next request to the same origin.

use std::io;
use std::sync::PoisonError;
use std::time::Duration;

use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::proxy::tunnel;
use super::{Http, HttpError, Io, Sender, Url};

/// How long a connection (TCP and TLS handshake) may take to open.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a kept connection may take to be ready for the next request
/// before a new one is opened instead.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

impl Http {
    /// Opens a connection to `url`'s origin: directly, or through its
    /// proxy (a CONNECT tunnel for https).
    pub(super) async fn connect(&self, url: &Url) -> Result<Sender, HttpError> {
        let (host, port) = url
            .host_port()
            .ok_or_else(|| HttpError::Invalid(format!("{}: no host and port", url.shown())))?;
        let proxy = self.proxy(url);
        let doing = match &proxy {
            Some(p) => format!("connect to {} through proxy {}", url.authority, p.uri()),
            None => format!("connect to {}", url.authority),
        };
        let open = async {
            let stream: Box<dyn Io> = match &proxy {
                None => {
                    let tcp = tcp(host, port).await?;
                    if url.tls {
                        self.tls_over(tcp, host).await?
                    } else {
                        tcp
                    }
                }
                Some(p) => {
                    let proxy_url = Url::parse(&p.uri().to_string()).ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::Unsupported,
                            format!(
                                "proxy {}: only http and https proxies are supported",
                                p.uri()
                            ),
                        )
                    })?;
                    let (proxy_host, proxy_port) = proxy_url.host_port().ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "a proxy without a host")
                    })?;
                    let mut stream = tcp(proxy_host, proxy_port).await?;
                    if proxy_url.tls {
                        stream = self.tls_over(stream, proxy_host).await?;
                    }
                    if url.tls {
                        let target = url.authority_with_port().unwrap_or_default();
                        tunnel(&mut stream, &target, p.basic_auth()).await?;
                        self.tls_over(stream, host).await?
                    } else {
                        stream
                    }
                }
            };
            let (sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(io::Error::other)?;
            // Runs until the connection closes: the server closed it, or
            // its sender and answers are gone.
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok::<_, io::Error>(sender)
        };
        match timeout(self.connect_timeout, open).await {
            Ok(Ok(sender)) => Ok(sender),
            Ok(Err(error)) => Err(HttpError::Io {
                authority: url.authority.clone(),
                doing,
                error,
            }),
            Err(_) => Err(HttpError::Timeout(format!(
                "{doing}: no connection in {}",
                humantime::format_duration(self.connect_timeout)
            ))),
        }
    }

    /// A kept connection to `origin` ready for a request, if there is one.
    pub(super) async fn kept(&self, origin: &str) -> Option<Sender> {
        loop {
            let mut sender = {
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                let i = idle.iter().rposition(|(o, _)| o == origin)?;
                idle.swap_remove(i).1
            };
            if let Ok(Ok(())) = timeout(READY_TIMEOUT, sender.ready()).await {
                return Some(sender);
            }
        }
    }
}

/// A TCP connection to `host:port`.
pub(super) async fn tcp(host: &str, port: u16) -> io::Result<Box<dyn Io>> {
    let tcp = TcpStream::connect((host, port)).await?;
    let _ = tcp.set_nodelay(true);
    Ok(Box::new(tcp))
}
