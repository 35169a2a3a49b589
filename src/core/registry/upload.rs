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
//! again, except a streamed PUT, which is sent once. Requests with a body
//! in memory are tried again while they fail in passing (`retry`); the
//! streamed PUT is not.

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
                true => self.authorization(host).await?,
                false => None,
            };
            let mut all = host.headers_with(headers);
            if let Some(a) = &sent {
                all.push((header::AUTHORIZATION, a.as_str()));
            }
            // Idempotent enough to send again when it fails in passing: a
            // HEAD, an upload's start (a second session is harmless), a
            // manifest (the same bytes).
            let mut answer = self
                .retried(true, || {
                    host.http.request(method.clone(), url, &all, body.clone())
                })
                .await?;
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
            let scheme = self
                .answer_challenge(host, &answer, sent.as_deref())
                .await?;
            answer.text().await;
            *host.scheme.lock().unwrap_or_else(PoisonError::into_inner) = Some(scheme);
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
                true => self.authorization(host).await?,
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

/// A second 401: a token without the push scope (`insufficient_scope`:
/// `PermissionDenied`), else the registry's own words when it gave some,
/// else the credentials refused.
async fn refused(answer: &mut Answer) -> Failure {
    let body = answer.text().await;
    if let Some(f) = super::auth::insufficient_scope(answer, &body) {
        return f;
    }
    let words = status_words(401, &body);
    if words == "HTTP 401 Unauthorized" {
        Failure::Unauthorized
    } else {
        Failure::Status(401, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::registry::auth::basic_auth;
    use crate::core::registry::credentials::Credentials;
    use crate::core::registry::fake::{fake_server, json, HANG};
    use crate::core::registry::http::Http;
    use crate::core::registry::tests::{digest_of, options, plain_remote, BLOB, MANIFEST};
    use crate::core::registry::ImageRef;
    use std::time::{Duration, Instant};

    fn blob(digest: &str) -> Descriptor {
        Descriptor {
            media_type: "application/octet-stream".into(),
            digest: digest.into(),
            size: BLOB.len() as i64,
            annotations: Default::default(),
        }
    }

    fn body() -> BodyStream {
        Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(BLOB))]))
    }

    /// A registry with basic auth: a blob it has (HEAD 200), one it mounts
    /// from another repository (201), one whose upload goes to a relative
    /// Location (with the credentials and the session's query kept) and
    /// one whose upload goes to another origin (object storage: without
    /// them); a manifest PUT with its media type; a registry that says it
    /// stored another digest than the one sent.
    #[tokio::test]
    async fn the_upload_flow() {
        let (storage, at_storage) = fake_server(|_, _| (201, vec![], vec![])).await;
        let basic = basic_auth("u", "p");
        let good = digest_of(BLOB);
        let (present, mounted, relative, foreign) = (
            format!("sha256:{}", "1".repeat(64)),
            format!("sha256:{}", "2".repeat(64)),
            good.clone(),
            format!("sha256:{}", "4".repeat(64)),
        );
        let (p2, m2, s2) = (present.clone(), mounted.clone(), storage.clone());
        let uploads = std::sync::atomic::AtomicUsize::new(0);
        let (host, seen) = fake_server(move |r, _| {
            if r.header("authorization") != Some(basic.as_str()) {
                let challenge = r#"Basic realm="registry""#.to_string();
                return (401, vec![("WWW-Authenticate", challenge)], b"{}".to_vec());
            }
            let path = r.path.as_str();
            match r.method.as_str() {
                "GET" => json(200, "{}"),
                "HEAD" if path.ends_with(&p2) => (200, vec![], vec![]),
                "HEAD" => json(404, ""),
                "POST" if path.contains(&format!("mount={}", m2.replace(':', "%3A"))) => {
                    (201, vec![], vec![])
                }
                // The first upload here, the next one elsewhere.
                "POST" => match uploads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                    0 => (
                        202,
                        vec![(
                            "Location",
                            "/v2/ctrd/app/blobs/uploads/uuid?_state=s".into(),
                        )],
                        vec![],
                    ),
                    _ => (
                        202,
                        vec![("Location", format!("http://{s2}/upload/1?sig=x"))],
                        vec![],
                    ),
                },
                "PUT" if path.contains("/manifests/") && r.body.contains("lie") => (
                    201,
                    vec![(
                        "Docker-Content-Digest",
                        format!("sha256:{}", "9".repeat(64)),
                    )],
                    vec![],
                ),
                "PUT" => (201, vec![], vec![]),
                _ => json(405, "{}"),
            }
        })
        .await;
        let image = ImageRef::parse(&format!("{host}/ctrd/app:v1")).unwrap();
        let remote = Remote::for_push(
            &image,
            &options("u", "p"),
            "push",
            vec!["ctrd/src".into()],
            Default::default(),
        )
        .await
        .unwrap();
        assert!(remote.blob_exists(&blob(&present)).await.unwrap());
        assert!(!remote.blob_exists(&blob(&mounted)).await.unwrap());
        let up = remote.start_upload(&blob(&mounted), Some("ctrd/src")).await;
        assert!(matches!(up, Ok(Upload::Mounted)));
        // From its own repository: no mount asked.
        let Upload::Session(location) = remote
            .start_upload(&blob(&relative), Some("ctrd/app"))
            .await
            .unwrap()
        else {
            panic!("mounted")
        };
        assert_eq!(
            location.shown(),
            format!("http://{host}/v2/ctrd/app/blobs/uploads/uuid")
        );
        remote
            .finish_upload(location, &blob(&relative), body())
            .await
            .unwrap();
        let Upload::Session(location) = remote.start_upload(&blob(&foreign), None).await.unwrap()
        else {
            panic!("mounted")
        };
        remote
            .finish_upload(location, &blob(&foreign), body())
            .await
            .unwrap();
        let digest = remote
            .put_manifest("v1", MANIFEST_TYPE, MANIFEST.as_bytes().to_vec())
            .await
            .unwrap();
        assert_eq!(digest, digest_of(MANIFEST.as_bytes()));
        let e = remote
            .put_manifest("v2", MANIFEST_TYPE, b"{\"lie\":1}".to_vec())
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::FailedPrecondition, "{}", e.message);
        assert!(e.message.contains("push manifest"), "{}", e.message);

        let seen = seen.lock().unwrap();
        let by = |m: &str| -> Vec<&crate::core::registry::fake::Seen> {
            seen.iter()
                .filter(|r| r.method == m && r.header("authorization").is_some())
                .collect()
        };
        let posts = by("POST");
        assert_eq!(
            posts[0].path,
            format!(
                "/v2/ctrd/app/blobs/uploads/?mount={}&from=ctrd%2Fsrc",
                mounted.replace(':', "%3A")
            )
        );
        assert_eq!(posts[1].path, "/v2/ctrd/app/blobs/uploads/");
        let puts = by("PUT");
        assert_eq!(
            puts[0].path,
            format!(
                "/v2/ctrd/app/blobs/uploads/uuid?_state=s&digest={}",
                good.replace(':', "%3A")
            )
        );
        assert_eq!(puts[0].body.as_bytes(), BLOB);
        assert_eq!(puts[0].header("content-length"), Some("33"));
        assert_eq!(puts[1].path, "/v2/ctrd/app/manifests/v1");
        assert_eq!(puts[1].header("content-type"), Some(MANIFEST_TYPE));
        // The foreign upload: there, without the registry's credentials.
        let stored = at_storage.lock().unwrap();
        assert_eq!(stored.len(), 1);
        assert!(stored[0].header("authorization").is_none());
        assert_eq!(
            stored[0].path,
            format!("/upload/1?sig=x&digest={}", foreign.replace(':', "%3A"))
        );
        assert_eq!(stored[0].body.as_bytes(), BLOB);
    }

    const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

    /// A token realm gets the push scope and the mount source's pull scope;
    /// a registry that refuses the push with a second 401 (a token without
    /// the push scope) is UNAUTHENTICATED in its own words, one that
    /// answers 403 PERMISSION_DENIED in its own words.
    #[tokio::test]
    async fn push_scopes_and_refusals() {
        let (host, seen) = fake_server(move |r, me| {
            if r.path.starts_with("/token") {
                return json(200, r#"{"token":"tok"}"#);
            }
            if r.header("authorization") != Some("Bearer tok") {
                let challenge = format!(r#"Bearer realm="http://{me}/token",service="reg""#);
                return (401, vec![("WWW-Authenticate", challenge)], b"{}".to_vec());
            }
            match (r.method.as_str(), r.path.as_str()) {
                ("GET", "/v2/") => json(200, "{}"),
                ("PUT", p) if p.contains("/denied/") => json(
                    403,
                    r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
                ),
                _ => {
                    let challenge = format!(
                        r#"Bearer realm="http://{me}/token",service="reg",error="insufficient_scope""#
                    );
                    (
                        401,
                        vec![("WWW-Authenticate", challenge)],
                        br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Action":"push"}]}]}"#.to_vec(),
                    )
                }
            }
        })
        .await;
        let image = ImageRef::parse(&format!("{host}/ctrd/app:v1")).unwrap();
        let remote = Remote::for_push(
            &image,
            &options("u", "p"),
            "push",
            vec!["ctrd/src".into()],
            Default::default(),
        )
        .await
        .unwrap();
        let e = remote
            .put_manifest("v1", MANIFEST_TYPE, MANIFEST.as_bytes().to_vec())
            .await
            .unwrap_err();
        // The token lacks the push scope: refused for what it does not
        // grant, in the registry's words.
        assert_eq!(e.code, Code::PermissionDenied, "{}", e.message);
        assert!(
            e.message.contains("authentication required")
                && e.message.contains("insufficient_scope"),
            "{}",
            e.message
        );
        let token = seen
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.path.starts_with("/token"))
            .unwrap()
            .path
            .clone();
        assert!(
            token.ends_with(
                "scope=repository%3Actrd%2Fapp%3Apull%2Cpush&scope=repository%3Actrd%2Fsrc%3Apull"
            ),
            "{token}"
        );
        let image = ImageRef::parse(&format!("{host}/ctrd/denied:v1")).unwrap();
        let remote = Remote::for_push(
            &image,
            &options("u", "p"),
            "push",
            vec![],
            Default::default(),
        )
        .await
        .unwrap();
        let e = remote
            .put_manifest("v1", MANIFEST_TYPE, MANIFEST.as_bytes().to_vec())
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::PermissionDenied, "{}", e.message);
        assert!(
            e.message
                .contains("requested access to the resource is denied"),
            "{}",
            e.message
        );
    }

    /// A registry that takes a blob's bytes and never answers, and one
    /// that answers 202 without a Location: cut after the (shortened)
    /// low-speed window, naming the host; an error naming the host.
    #[tokio::test]
    async fn hostile_registries() {
        let (host, _) = fake_server(|r, _| match r.method.as_str() {
            "PUT" => (201, vec![(HANG, String::new())], vec![]),
            "POST" if r.path.contains("/bad/") => (202, vec![], vec![]),
            "POST" => (202, vec![("Location", "/up/1".into())], vec![]),
            _ => json(200, "{}"),
        })
        .await;
        let window = Duration::from_millis(1500);
        let http = Http::new(None, false).unwrap().with_stall_window(window);
        let image = ImageRef::parse(&format!("{host}/ctrd/app:v1")).unwrap();
        let remote = plain_remote(http, &image, Credentials::Anonymous)
            .await
            .unwrap();
        let d = blob(&digest_of(BLOB));
        let Upload::Session(location) = remote.start_upload(&d, None).await.unwrap() else {
            panic!("mounted")
        };
        let start = Instant::now();
        let e = remote
            .finish_upload(location, &d, body())
            .await
            .unwrap_err();
        let took = start.elapsed();
        assert_eq!(e.code, Code::Unavailable, "{}", e.message);
        assert!(
            e.message.contains(&format!("push blob {}", d.digest))
                && e.message
                    .contains("no answer in 1.5 s after the request's body"),
            "{}",
            e.message
        );
        assert!(took >= window && took < window * 3, "{took:?}");

        let image = ImageRef::parse(&format!("{host}/ctrd/bad:v1")).unwrap();
        let http = Http::new(None, false).unwrap();
        let remote = plain_remote(http, &image, Credentials::Anonymous)
            .await
            .unwrap();
        let e = remote.start_upload(&d, None).await.err().unwrap();
        assert!(
            e.message.contains(&format!(
                "{host} answered HTTP 202 without a usable Location"
            )),
            "{}",
            e.message
        );
    }
}
