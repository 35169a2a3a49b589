//! Pushes: the distribution API's upload flow at the first host that may
//! push. A blob the repository has (HEAD) is not sent; else an upload
//! starts (POST, with `?mount=<digest>&from=<repository>` when the blob is
//! known to come from another repository of the same registry: a 201 is
//! the mount done) and the bytes go in one PUT to the Location the
//! registry gave (relative or absolute: the host's credentials go there
//! only when it is the host's origin) with `?digest=`, streamed from the
//! caller. Manifests and indexes are PUT after what they name, with their
//! media type. Every answer's body is read bounded; a 401 is answered once
//! (the challenge's token, or basic credentials) and the request sent
//! again, except a streamed PUT, which is sent once.

use std::sync::PoisonError;

use hyper::body::Bytes;
use hyper::header::{self, HeaderName};
use hyper::{Method, StatusCode};

use super::errors::{status_words, Failure};
use super::manifests::DOCKER_CONTENT_DIGEST;
use super::{Endpoint, Remote};
use crate::api::types::Descriptor;
use crate::core::error::{Code, Error, Result};
use crate::core::image::oci::sha256_digest;
use crate::core::registry::http::{query_escape, Answer, BodyStream, Url};

/// Where an upload of a blob stands once it started.
pub enum Upload {
    /// The registry mounted the blob from another repository: done.
    Mounted,
    /// An upload session: where its bytes go.
    Session(Url),
}

impl Endpoint {
    /// The Authorization the host took, if any.
    fn taken(&self) -> Option<String> {
        self.authorization
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps `authorization` for the host's next requests.
    fn take(&self, authorization: String) {
        *self
            .authorization
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(authorization);
    }
}

/// `path` with `query` (`k=v&...`) appended.
fn with_query(path: &str, query: &str) -> String {
    let joiner = if path.contains('?') { '&' } else { '?' };
    format!("{path}{joiner}{query}")
}

impl Remote {
    /// The host pushes go to: the first that may push (as containerd's
    /// pusher takes it).
    fn push_host(&self) -> Result<&Endpoint> {
        self.hosts.iter().find(|h| h.push).ok_or_else(|| {
            let source = self.source.as_deref().unwrap_or(std::path::Path::new(""));
            Error::new(
                Code::NotFound,
                format!(
                    "{}: no host in {} may push (capabilities)",
                    self.what,
                    source.display()
                ),
            )
        })
    }

    /// Sends `method` to `url` with `host`'s headers, the Authorization it
    /// took when `url` is at its origin, and `body`; on a 401 from there,
    /// answers its challenge and sends once more. No redirect is followed.
    async fn send(
        &self,
        host: &Endpoint,
        method: Method,
        url: &Url,
        headers: &[(HeaderName, &str)],
        body: Bytes,
    ) -> std::result::Result<Answer, Failure> {
        let own = url.origin() == host.base.origin();
        let mut answered = false;
        loop {
            let sent = match own {
                true => host.taken(),
                false => None,
            };
            let mut all = host.headers_with(headers);
            if let Some(a) = &sent {
                all.push((header::AUTHORIZATION, a.as_str()));
            }
            let mut answer = host
                .http
                .request(method.clone(), url, &all, body.clone())
                .await
                .map_err(Failure::Http)?;
            if answer.status != StatusCode::UNAUTHORIZED {
                return Ok(answer);
            }
            if !own {
                answer.text().await;
                return Err(Failure::Foreign(url.authority.clone()));
            }
            if answered {
                return Err(refused(&mut answer).await);
            }
            answered = true;
            let authorization = self
                .answer_challenge(host, &answer, sent.as_deref())
                .await?;
            answer.text().await;
            host.take(authorization);
        }
    }

    /// Whether repository has blob `d` (HEAD; a redirect to where its bytes
    /// are says it has).
    pub async fn blob_exists(&self, d: &Descriptor) -> Result<bool> {
        let host = self.push_host()?;
        let path = host.path(&format!("{}/blobs/{}", self.image.repository(), d.digest));
        self.exists(host, &path, &[], &format!("check blob {}", d.digest))
            .await
    }

    /// Whether the repository has manifest or index `d` (HEAD by digest).
    pub async fn manifest_exists(&self, d: &Descriptor) -> Result<bool> {
        let host = self.push_host()?;
        let path = host.path(&format!(
            "{}/manifests/{}",
            self.image.repository(),
            d.digest
        ));
        let accept = [(header::ACCEPT, d.media_type.as_str())];
        self.exists(
            host,
            &path,
            &accept,
            &format!("check manifest {}", d.digest),
        )
        .await
    }

    async fn exists(
        &self,
        host: &Endpoint,
        path: &str,
        headers: &[(HeaderName, &str)],
        step: &str,
    ) -> Result<bool> {
        let url = Url {
            path: path.to_string(),
            ..host.base.clone()
        };
        let head = async {
            let mut answer = self
                .send(host, Method::HEAD, &url, headers, Bytes::new())
                .await?;
            match answer.status.as_u16() {
                200 | 302 | 303 | 307 | 308 => {
                    answer.text().await;
                    Ok(true)
                }
                404 => {
                    answer.text().await;
                    Ok(false)
                }
                _ => Err(Failure::status(&mut answer).await),
            }
        };
        head.await.map_err(|f| self.error(host, f, step))
    }

    /// Starts the upload of blob `d`: mounted from repository `from` of the
    /// same registry when given and the registry does it, else a session
    /// to send the bytes to.
    pub async fn start_upload(&self, d: &Descriptor, from: Option<&str>) -> Result<Upload> {
        let host = self.push_host()?;
        let step = format!("push blob {}", d.digest);
        let mut path = host.path(&format!("{}/blobs/uploads/", self.image.repository()));
        let from = from.filter(|f| *f != self.image.repository());
        if let Some(from) = from {
            let mut query = String::from("mount=");
            query_escape(&mut query, &d.digest);
            query.push_str("&from=");
            query_escape(&mut query, from);
            path = with_query(&path, &query);
        }
        let url = Url {
            path,
            ..host.base.clone()
        };
        let post = async {
            let length = [(header::CONTENT_LENGTH, "0")];
            let mut answer = self
                .send(host, Method::POST, &url, &length, Bytes::new())
                .await?;
            match answer.status {
                StatusCode::CREATED if from.is_some() => {
                    answer.text().await;
                    Ok(Upload::Mounted)
                }
                StatusCode::ACCEPTED | StatusCode::CREATED => {
                    let location = answer
                        .header(header::LOCATION)
                        .and_then(|l| answer.url.join(l));
                    answer.text().await;
                    let location = location.ok_or_else(|| {
                        Failure::Other(format!(
                            "{} answered HTTP {} without a usable Location",
                            answer.authority(),
                            answer.status.as_u16()
                        ))
                    })?;
                    Ok(Upload::Session(location))
                }
                _ => Err(Failure::status(&mut answer).await),
            }
        };
        post.await.map_err(|f| self.error(host, f, &step))
    }

    /// Sends blob `d`'s bytes, `body`, in one PUT to the upload session at
    /// `location` (which gets `?digest=`), ending the upload. The bytes go
    /// once: a 401 is an error (the session's credentials were taken by
    /// the POST that started it just before).
    pub async fn finish_upload(
        &self,
        location: Url,
        d: &Descriptor,
        body: BodyStream,
    ) -> Result<()> {
        let host = self.push_host()?;
        let step = format!("push blob {}", d.digest);
        let mut query = String::from("digest=");
        query_escape(&mut query, &d.digest);
        let url = Url {
            path: with_query(&location.path, &query),
            ..location
        };
        let put = async {
            let own = url.origin() == host.base.origin();
            let sent = match own {
                true => host.taken(),
                false => None,
            };
            let length = d.size.max(0).to_string();
            let mut all = host.headers_with(&[
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CONTENT_LENGTH, length.as_str()),
            ]);
            if let Some(a) = &sent {
                all.push((header::AUTHORIZATION, a.as_str()));
            }
            let mut answer = host
                .http
                .request(Method::PUT, &url, &all, super::http::Payload::Stream(body))
                .await
                .map_err(Failure::Http)?;
            match answer.status {
                StatusCode::CREATED | StatusCode::NO_CONTENT | StatusCode::OK => {}
                StatusCode::UNAUTHORIZED if !own => {
                    answer.text().await;
                    return Err(Failure::Foreign(url.authority.clone()));
                }
                StatusCode::UNAUTHORIZED => return Err(refused(&mut answer).await),
                _ => return Err(Failure::status(&mut answer).await),
            }
            let said = answer
                .header(DOCKER_CONTENT_DIGEST)
                .map(str::to_string)
                .filter(|s| s.starts_with("sha256:") && *s != d.digest);
            answer.text().await;
            match said {
                Some(said) => Err(Failure::Mismatch(format!(
                    "the registry stored digest {said}, not {}",
                    d.digest
                ))),
                None => Ok(()),
            }
        };
        put.await.map_err(|f| self.error(host, f, &step))
    }

    /// PUTs manifest or index `bytes` of `media_type` as `reference` (a
    /// tag, or its digest) in the repository. Returns its digest.
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String> {
        let host = self.push_host()?;
        let digest = sha256_digest(&bytes);
        let step = format!("push manifest {digest} as {reference:?}");
        let path = host.path(&format!(
            "{}/manifests/{reference}",
            self.image.repository()
        ));
        let url = Url {
            path,
            ..host.base.clone()
        };
        let put = async {
            let length = bytes.len().to_string();
            let headers = [
                (header::CONTENT_TYPE, media_type),
                (header::CONTENT_LENGTH, length.as_str()),
            ];
            let mut answer = self
                .send(host, Method::PUT, &url, &headers, Bytes::from(bytes))
                .await?;
            if !answer.status.is_success() {
                return Err(Failure::status(&mut answer).await);
            }
            let said = answer
                .header(DOCKER_CONTENT_DIGEST)
                .map(str::to_string)
                .filter(|s| s.starts_with("sha256:") && *s != digest);
            answer.text().await;
            match said {
                Some(said) => Err(Failure::Mismatch(format!(
                    "the registry gives digest {said} for the manifest whose bytes have {digest}"
                ))),
                None => Ok(()),
            }
        };
        put.await.map_err(|f| self.error(host, f, &step))?;
        Ok(digest)
    }
}

/// A second 401: the registry's own words when it gave some (a token
/// without the push scope: `insufficient_scope`), else the credentials
/// refused.
async fn refused(answer: &mut Answer) -> Failure {
    let body = answer.text().await;
    let words = status_words(401, &body);
    if words == "HTTP 401 Unauthorized" {
        Failure::Unauthorized
    } else {
        Failure::Status(401, body)
    }
}
