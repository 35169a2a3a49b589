//! The auth flow a registry's 401 asks for: its `WWW-Authenticate`
//! challenges parsed, answered with basic credentials or with a bearer
//! token fetched from the realm a challenge names, and the scheme the
//! registry took kept for the session's next requests (its tokens kept in
//! `tokens`). Credentials go only to the registry's origin and to a realm
//! it names (not a plain http one for an https registry).

use std::sync::PoisonError;
use std::time::Duration;

use base64::Engine;
use hyper::body::Bytes;
use hyper::header::{self, HeaderName};
use hyper::{Method, StatusCode};

use super::credentials::Credentials;
use super::errors::{status_words, Failure};
use super::tokens::{Token, TokenKey};
use super::{Endpoint, Remote, Scheme};
use crate::core::registry::http::{query_escape, Answer, Url};

/// Largest token answer read.
const MAX_TOKEN_ANSWER: usize = 1 << 20;

/// `Basic` credentials as an Authorization value.
pub(super) fn basic_auth(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

impl Remote {
    /// The scope of the session's tokens, as the token cache keys it: its
    /// scopes (see `Remote::scopes`) separated by spaces.
    fn scope(&self) -> String {
        self.scopes().join(" ")
    }

    /// GETs `path` from `host` with the Authorization it took and its
    /// headers (tried again while it fails in passing: see `retry`); on a
    /// 401, answers its challenge (a token from the realm, or the basic
    /// credentials) and asks once more. Redirects are followed, without
    /// the Authorization once they leave the host.
    pub(super) async fn get(
        &self,
        host: &Endpoint,
        path: &str,
        headers: &[(HeaderName, &str)],
    ) -> Result<Answer, Failure> {
        let url = Url {
            path: path.to_string(),
            ..host.base.clone()
        };
        let all = host.headers_with(headers);
        let mut answered = false;
        loop {
            let sent = self.authorization(host).await?;
            let mut answer = self.get_retried(host, &url, &all, sent.as_deref()).await?;
            if answer.status != StatusCode::UNAUTHORIZED {
                return Ok(answer);
            }
            // Read, so that the connection serves the next request.
            answer.text().await;
            // A redirect's target asking for credentials: the registry's
            // go to the registry alone, and so do those a realm it names
            // would be given.
            if answer.url.origin() != url.origin() {
                return Err(Failure::Foreign(answer.url.authority.clone()));
            }
            if answered {
                return Err(insufficient_scope(&answer, "").unwrap_or(Failure::Unauthorized));
            }
            answered = true;
            let scheme = self
                .answer_challenge(host, &answer, sent.as_deref())
                .await?;
            *host.scheme.lock().unwrap_or_else(PoisonError::into_inner) = Some(scheme);
        }
    }

    /// The Authorization `host`'s requests carry: none before a 401 asked,
    /// then the basic credentials, or the bearer token for the session's
    /// scope (kept, or a new one when it is about to expire).
    pub(super) async fn authorization(&self, host: &Endpoint) -> Result<Option<String>, Failure> {
        let scheme = host
            .scheme
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Ok(match scheme {
            None => None,
            Some(Scheme::Basic(basic)) => Some(basic),
            Some(Scheme::Bearer(key)) => {
                Some(format!("Bearer {}", self.bearer(host, &key, None).await?))
            }
        })
    }

    /// How to answer a 401's `WWW-Authenticate` challenge: a token from a
    /// Bearer challenge's realm (a new one when the token `sent` was
    /// refused: it may have expired), or the basic credentials for a Basic
    /// one unless they were just refused.
    pub(super) async fn answer_challenge(
        &self,
        host: &Endpoint,
        answer: &Answer,
        sent: Option<&str>,
    ) -> Result<Scheme, Failure> {
        let challenges: Vec<Challenge> = answer
            .headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let realm = bearer
                .param("realm")
                .ok_or_else(|| Failure::Token("a Bearer challenge without a realm".into()))?;
            let key = TokenKey {
                realm: realm.to_string(),
                service: bearer.param("service").map(str::to_string),
                scope: self.scope(),
            };
            let refused = sent.and_then(|s| s.strip_prefix("Bearer "));
            self.bearer(host, &key, refused).await?;
            return Ok(Scheme::Bearer(key));
        }
        if let Credentials::Basic(user, password) = &host.creds {
            let basic = basic_auth(user, password);
            if challenges.iter().any(|c| c.scheme == "basic") && sent != Some(basic.as_str()) {
                return Ok(Scheme::Basic(basic));
            }
        }
        Err(Failure::Unauthorized)
    }

    /// A token for `scope` (scopes separated by spaces, each sent as a
    /// `scope` parameter) from `realm`, as docker gets one: a GET with
    /// `service` and the scopes (with the basic credentials when there are
    /// some), or with an identity token an OAuth2 refresh-token grant
    /// POSTed as a form; `host`'s headers go along, as containerd sends
    /// them. Tried again while the realm fails in passing.
    pub(super) async fn token(
        &self,
        host: &Endpoint,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<Token, Failure> {
        let mut url = Url::parse(realm)
            .ok_or_else(|| Failure::Token(format!("the realm {realm:?} is not an http(s) URL")))?;
        // Secrets cross the network in the clear only as far as the
        // registry itself takes them.
        if !url.tls && host.base.tls && !matches!(host.creds, Credentials::Anonymous) {
            return Err(Failure::Token(format!(
                "the realm {} is plain http, the registry https: its credentials are not sent there",
                url.shown()
            )));
        }
        let mut query = String::new();
        if let Some(service) = service {
            query.push_str("service=");
            query_escape(&mut query, service);
            query.push('&');
        }
        for (i, scope) in scope.split(' ').enumerate() {
            if i > 0 {
                query.push('&');
            }
            query.push_str("scope=");
            query_escape(&mut query, scope);
        }
        let mut headers = host.headers_with(&[]);
        let answer = match &host.creds {
            Credentials::IdentityToken(token) => {
                let mut form = format!(
                    "grant_type=refresh_token&client_id=containerd-c&{query}&refresh_token="
                );
                query_escape(&mut form, token);
                let form_type = "application/x-www-form-urlencoded";
                headers.push((header::CONTENT_TYPE, form_type));
                let form = Bytes::from(form);
                self.retried(false, || {
                    host.http
                        .request(Method::POST, &url, &headers, form.clone())
                })
                .await
            }
            creds => {
                url.path
                    .push(if url.path.contains('?') { '&' } else { '?' });
                url.path.push_str(&query);
                let basic = match creds {
                    Credentials::Basic(user, password) => Some(basic_auth(user, password)),
                    _ => None,
                };
                self.get_retried(host, &url, &headers, basic.as_deref())
                    .await
            }
        };
        let mut answer = answer?;
        if !answer.status.is_success() {
            let body = answer.text().await;
            return Err(Failure::Token(status_words(answer.status.as_u16(), &body)));
        }
        let body = answer
            .read(MAX_TOKEN_ANSWER)
            .await
            .map_err(Failure::Read)?
            .ok_or_else(|| Failure::Token("an answer of more than 1 MiB".into()))?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
            #[serde(default)]
            expires_in: Option<f64>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| Failure::Token(format!("the answer is not a token: {e}")))?;
        let token = if answer.token.is_empty() {
            answer.access_token
        } else {
            answer.token
        };
        if token.is_empty() {
            return Err(Failure::Token("the answer holds no token".into()));
        }
        // At most a day; a lifetime that is none is the default's.
        let lifetime = answer
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| Duration::from_secs_f64(s.min(86_400.0)));
        Ok(Token {
            value: token,
            lifetime,
        })
    }
}

/// The failure a 401 that answered a token is when its Bearer challenge
/// says `error="insufficient_scope"` (the registry knows the credentials
/// but their token does not grant what was asked); `body` is the answer's.
pub(super) fn insufficient_scope(answer: &Answer, body: &str) -> Option<Failure> {
    answer
        .headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .find(|c| c.scheme == "bearer" && c.param("error") == Some("insufficient_scope"))
        .map(|c| Failure::Scope {
            scope: c.param("scope").unwrap_or("").to_string(),
            words: status_words(401, body),
        })
}

/// One challenge of a `WWW-Authenticate` header: its scheme (lowercase)
/// and parameters (names lowercase).
#[derive(Debug, PartialEq)]
struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The challenges of a `WWW-Authenticate` value: `Bearer
/// realm="https://auth",service="registry", Basic realm="x"`. Parameter
/// values are tokens or quoted strings (backslash escapes).
fn parse_challenges(value: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return out;
        }
        let end = rest.find([' ', '\t', ',', '=']).unwrap_or(rest.len());
        let name = rest[..end].to_ascii_lowercase();
        let after = rest[end..].trim_start_matches([' ', '\t']);
        match (after.strip_prefix('='), out.last_mut()) {
            (Some(value), Some(challenge)) => {
                let value = value.trim_start_matches([' ', '\t']);
                let (v, next) = match value.strip_prefix('"') {
                    Some(quoted) => {
                        let mut v = String::new();
                        let mut chars = quoted.char_indices();
                        let mut end = quoted.len();
                        while let Some((i, c)) = chars.next() {
                            match c {
                                '"' => {
                                    end = i + 1;
                                    break;
                                }
                                '\\' => v.extend(chars.next().map(|(_, c)| c)),
                                c => v.push(c),
                            }
                        }
                        (v, &quoted[end..])
                    }
                    None => {
                        let end = value.find([' ', '\t', ',']).unwrap_or(value.len());
                        (value[..end].to_string(), &value[end..])
                    }
                };
                challenge.params.push((name, v));
                rest = next;
            }
            _ => {
                out.push(Challenge {
                    scheme: name,
                    params: Vec::new(),
                });
                rest = &rest[end..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::Descriptor;
    use crate::core::error::Code;
    use crate::core::registry::credentials::docker_config;
    use crate::core::registry::fake::{fake_server, json, Seen};
    use crate::core::registry::http::Http;
    use crate::core::registry::tests::{
        digest_of, options, plain_remote, read_all, BLOB, MANIFEST,
    };
    use crate::core::registry::ImageRef;
    use crate::core::registry::RemoteOptions;

    #[test]
    fn challenges_are_parsed() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.example/token"));
        assert_eq!(c[0].param("service"), Some("registry.example"));
        assert_eq!(c[0].param("scope"), Some("repository:a/b:pull,push"));
        let c = parse_challenges(
            r#"Basic realm="a \"quoted\" realm", Bearer realm=http://t/x , error=invalid_token"#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].scheme.as_str(), c[0].param("realm")),
            ("basic", Some(r#"a "quoted" realm"#))
        );
        assert_eq!(
            (c[1].scheme.as_str(), c[1].param("realm")),
            ("bearer", Some("http://t/x"))
        );
        assert_eq!(c[1].param("error"), Some("invalid_token"));
        assert_eq!(parse_challenges("BASIC")[0].scheme, "basic");
        assert!(parse_challenges("").is_empty());
    }

    /// A registry that wants a bearer token from its realm (which checks
    /// the service, the scope and the basic credentials, or takes an
    /// identity token by POST), serves a manifest with it, and redirects
    /// blobs to object storage on another port (which serves ranges, and
    /// wrong bytes for one blob).
    #[tokio::test]
    async fn bearer_tokens_and_redirects() {
        let good = digest_of(BLOB);
        let bad = format!("sha256:{}", "b".repeat(64));
        let (storage, stored) = fake_server(|r, _| {
            let bytes = if r.path.starts_with("/bad") {
                b"the blob's bytes, several of thex".to_vec()
            } else {
                BLOB.to_vec()
            };
            match r.header("range") {
                Some(range) => {
                    let from: usize = range
                        .strip_prefix("bytes=")
                        .unwrap()
                        .trim_end_matches('-')
                        .parse()
                        .unwrap();
                    let cr = format!("bytes {from}-{}/{}", bytes.len() - 1, bytes.len());
                    (206, vec![("Content-Range", cr)], bytes[from..].to_vec())
                }
                None => (200, vec![], bytes),
            }
        })
        .await;
        let basic = basic_auth("u", "p");
        let (good2, bad2) = (good.clone(), bad.clone());
        let m_digest = digest_of(MANIFEST.as_bytes());
        let (host, seen) = fake_server(move |r, me| {
            let challenge = (
                "WWW-Authenticate",
                format!(r#"Bearer realm="http://{me}/token",service="fake registry""#),
            );
            if r.path.starts_with("/token") {
                let query = "service=fake%20registry&scope=repository%3Actrd%2Fapp%3Apull";
                let right = match r.method.as_str() {
                    "GET" => {
                        r.path == format!("/token?{query}")
                            && r.header("authorization") == Some(&basic)
                    }
                    _ => {
                        r.path == "/token"
                            && r.header("content-type") == Some("application/x-www-form-urlencoded")
                            && r.body.contains("grant_type=refresh_token")
                            && r.body.contains(query)
                            && r.body.contains("refresh_token=id%2Btoken")
                    }
                };
                return match right {
                    true => json(200, r#"{"access_token":"tok","expires_in":300}"#),
                    false => json(401, r#"{"details":"incorrect username or password"}"#),
                };
            }
            if r.header("authorization") != Some("Bearer tok") {
                return (401, vec![challenge], b"{}".to_vec());
            }
            let blob = |d: &str| format!("/v2/ctrd/app/blobs/{d}");
            let manifest = |d: &str| format!("/v2/ctrd/app/manifests/{d}");
            match r.path.as_str() {
                "/v2/" => json(200, "{}"),
                p if p == "/v2/ctrd/app/manifests/v1" || p == manifest(&m_digest) => (
                    200,
                    vec![("Docker-Content-Digest", digest_of(MANIFEST.as_bytes()))],
                    MANIFEST.as_bytes().to_vec(),
                ),
                p if p == blob(&good2) => (
                    307,
                    vec![("Location", format!("http://{storage}/blob?sig=1"))],
                    vec![],
                ),
                // Bytes that are not the manifest asked for.
                p if p == manifest(&bad2) => (200, vec![], MANIFEST.as_bytes().to_vec()),
                p if p == blob(&bad2) => (
                    302,
                    vec![("Location", format!("http://{storage}/bad"))],
                    vec![],
                ),
                _ => json(
                    404,
                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                ),
            }
        })
        .await;
        let image = ImageRef::parse(&format!("{host}/ctrd/app:v1")).unwrap();

        // The token, then the manifest with it.
        let remote = Remote::new(&image, &options("u", "p"), "pull")
            .await
            .unwrap();
        let m = remote.manifest(None).await.unwrap();
        assert_eq!(m.bytes, MANIFEST.as_bytes());
        assert_eq!(m.descriptor.digest, digest_of(MANIFEST.as_bytes()));
        assert_eq!(
            m.descriptor.media_type,
            "application/vnd.oci.image.manifest.v1+json"
        );
        let tokens = |seen: &std::sync::Mutex<Vec<Seen>>| {
            seen.lock()
                .unwrap()
                .iter()
                .filter(|r| r.path.starts_with("/token"))
                .count()
        };
        assert_eq!(tokens(&seen), 1);
        assert!(seen
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.header("user-agent") == Some(crate::core::registry::http::USER_AGENT)));

        // By digest: it must be the one asked for.
        let again = remote.manifest(Some(&m.descriptor.digest)).await.unwrap();
        assert_eq!(again.bytes, m.bytes);
        let e = remote.manifest(Some(&bad)).await.err().unwrap();
        assert_eq!(e.code, Code::FailedPrecondition, "{}", e.message);
        assert!(e.message.contains(&format!("not {bad}")), "{}", e.message);
        let e = remote.manifest(Some(&good)).await.err().unwrap();
        assert_eq!(e.code, Code::NotFound, "{}", e.message);
        assert!(
            e.message.ends_with(&format!(
                "fetch manifest {good}: not found (manifest unknown)"
            )),
            "{}",
            e.message
        );

        // Blobs: redirected, without the registry's token.
        let d = Descriptor {
            media_type: "application/octet-stream".into(),
            digest: good.clone(),
            size: BLOB.len() as i64,
            annotations: Default::default(),
        };
        let (s, partial) = remote.blob(&d, 0).await.unwrap();
        assert!(!partial);
        assert_eq!(read_all(s).await.unwrap(), BLOB);
        let (s, partial) = remote.blob(&d, 4).await.unwrap();
        assert!(partial);
        assert_eq!(read_all(s).await.unwrap(), &BLOB[4..]);
        {
            let stored = stored.lock().unwrap();
            assert_eq!(stored.len(), 2);
            assert!(stored.iter().all(|r| r.header("authorization").is_none()));
            assert_eq!(stored[0].path, "/blob?sig=1");
            assert_eq!(stored[1].header("range"), Some("bytes=4-"));
        }
        // Several at once.
        let streams = futures_util::future::join_all((0..3).map(|_| remote.blob(&d, 0))).await;
        for s in streams {
            assert_eq!(read_all(s.unwrap().0).await.unwrap(), BLOB);
        }

        // Bytes that are not the blob: the stream's end says so.
        let wrong = Descriptor {
            digest: bad.clone(),
            ..d.clone()
        };
        let (s, _) = remote.blob(&wrong, 0).await.unwrap();
        let e = remote.stream_error(&bad, read_all(s).await.unwrap_err());
        assert_eq!(e.code, Code::FailedPrecondition, "{}", e.message);
        assert!(e.message.contains("digest"), "{}", e.message);
        // More bytes than the descriptor says.
        let short = Descriptor {
            size: 5,
            ..d.clone()
        };
        let (s, _) = remote.blob(&short, 0).await.unwrap();
        let e = remote.stream_error(&good, read_all(s).await.unwrap_err());
        assert_eq!(e.code, Code::FailedPrecondition, "{}", e.message);
        assert_eq!(tokens(&seen), 1);
        // Connections kept for the next request: fewer than the requests
        // (three at once need three).
        let (requests, connections) = {
            let seen = seen.lock().unwrap();
            (seen.len(), seen.iter().map(|r| r.conn).max().unwrap() + 1)
        };
        assert!(
            connections <= 3 && requests > 10,
            "{connections} for {requests}: {:?}",
            seen.lock()
                .unwrap()
                .iter()
                .map(|r| (r.conn, r.path.clone()))
                .collect::<Vec<_>>()
        );

        // An identity token: exchanged by POST.
        let remote = Remote::new(&image, &options("", "id+token"), "pull")
            .await
            .unwrap();
        remote.manifest(None).await.unwrap();
        assert!(seen.lock().unwrap().iter().any(|r| r.method == "POST"));

        // Wrong credentials: the realm's refusal, with its words.
        let e = Remote::new(&image, &options("u", "wrong"), "pull \"x\"")
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, Code::Unauthenticated, "{}", e.message);
        assert!(
            e.message.starts_with(&format!(
                "pull \"x\": authenticate: {host}: the token request failed"
            )) && e.message.contains("HTTP 401")
                && e.message.contains("incorrect username or password"),
            "{}",
            e.message
        );
    }

    /// A registry with basic auth redirects blobs to a host that answers
    /// 401 with a Bearer realm of its own: neither the credentials (from
    /// the options or the docker config) go to that realm nor its token to
    /// the registry; the pull fails naming the host.
    #[tokio::test]
    async fn credentials_stay_with_the_registry() {
        let (realm, at_realm) =
            fake_server(|_, _| json(200, r#"{"token":"foreign","access_token":"foreign"}"#)).await;
        let (storage, at_storage) = fake_server(move |_, _| {
            let challenge = format!(r#"Bearer realm="http://{realm}/token",service="s3""#);
            (401, vec![("WWW-Authenticate", challenge)], b"{}".to_vec())
        })
        .await;
        let basic = basic_auth("u", "p");
        let to = storage.clone();
        let (host, at_registry) = fake_server(move |r, _| {
            if r.header("authorization") != Some(basic.as_str()) {
                let challenge = r#"Basic realm="registry""#.to_string();
                return (401, vec![("WWW-Authenticate", challenge)], b"{}".to_vec());
            }
            match r.path.as_str() {
                "/v2/" => json(200, "{}"),
                _ => (
                    307,
                    vec![("Location", format!("http://{to}/blob?sig=1"))],
                    vec![],
                ),
            }
        })
        .await;
        let image = ImageRef::parse(&format!("{host}/ctrd/app:v1")).unwrap();
        let d = Descriptor {
            media_type: "application/octet-stream".into(),
            digest: digest_of(BLOB),
            size: BLOB.len() as i64,
            annotations: Default::default(),
        };
        let dir = tempfile::tempdir().unwrap();
        let auths = format!(
            r#"{{"auths":{{"http://{host}/v2/":{{"auth":"{}"}}}}}}"#,
            base64::engine::general_purpose::STANDARD.encode("u:p")
        );
        let anonymous = RemoteOptions {
            plain_http: true,
            ..Default::default()
        };
        for from_config in [false, true] {
            let remote = match from_config {
                false => Remote::new(&image, &options("u", "p"), "pull").await,
                true => {
                    let config = docker_config(dir.path(), Some(&auths), &[]);
                    let limits = crate::core::registry::CallLimits::default();
                    Remote::with_config(
                        &image,
                        &anonymous,
                        "pull",
                        config,
                        limits,
                        super::super::Access::Pull,
                    )
                    .await
                }
            };
            let remote = remote.unwrap();
            assert!(matches!(remote.hosts[0].creds, Credentials::Basic(..)));
            let e = remote.blob(&d, 0).await.err().unwrap();
            assert_eq!(e.code, Code::Unauthenticated, "{}", e.message);
            assert_eq!(
                e.message,
                format!(
                    "pull: fetch blob {}: redirected by {host} to {storage}, which asks for \
                     credentials (401 Unauthorized): the registry's are not sent there",
                    d.digest
                )
            );
        }
        assert_eq!(at_storage.lock().unwrap().len(), 2);
        assert!(at_storage
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.header("authorization").is_none()));
        let at_realm = at_realm.lock().unwrap();
        assert!(at_realm.is_empty(), "{at_realm:?}");
        let at_registry = at_registry.lock().unwrap();
        assert!(
            at_registry.iter().all(|r| r
                .header("authorization")
                .is_none_or(|a| a.starts_with("Basic "))),
            "{at_registry:?}"
        );
    }

    /// An https registry's credentials do not go to a plain http realm
    /// (none are sent there: the token request fails); without
    /// credentials, the realm is asked.
    #[tokio::test]
    async fn no_credentials_to_a_plain_http_realm_of_an_https_registry() {
        let (realm, at_realm) = fake_server(|_, _| json(200, r#"{"token":"t"}"#)).await;
        let image = ImageRef::parse("r.invalid/a:t").unwrap();
        let remote = |creds| Remote {
            image: image.clone(),
            hosts: vec![Endpoint::new(
                Http::new(None, false).unwrap(),
                Url::parse("https://r.invalid/v2").unwrap(),
                "r.invalid",
                creds,
            )],
            source: None,
            what: "pull".into(),
            limits: Default::default(),
            access: super::super::Access::Pull,
        };
        let url = format!("http://{realm}/token");
        for creds in [
            Credentials::Basic("u".into(), "p".into()),
            Credentials::IdentityToken("refresh".into()),
        ] {
            let remote = remote(creds);
            match remote.token(&remote.hosts[0], &url, None, "s").await {
                Err(Failure::Token(why)) => assert_eq!(
                    why,
                    format!(
                        "the realm {url} is plain http, the registry https: \
                         its credentials are not sent there"
                    )
                ),
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
        assert!(at_realm.lock().unwrap().is_empty());
        let anonymous = remote(Credentials::Anonymous);
        let token = anonymous.token(&anonymous.hosts[0], &url, None, "s").await;
        assert_eq!(token.unwrap().value, "t");
        // A plain http registry's realm may be plain http too.
        let mut plain = remote(Credentials::Basic("u".into(), "p".into()));
        plain.hosts[0].base.tls = false;
        let token = plain.token(&plain.hosts[0], &url, None, "s").await;
        assert_eq!(token.unwrap().value, "t");
        let at_realm = at_realm.lock().unwrap();
        assert_eq!(at_realm.len(), 2);
        assert_eq!(
            at_realm[1].header("authorization"),
            Some(basic_auth("u", "p").as_str())
        );
    }

    /// A registry with basic auth: anonymous is told none were found,
    /// wrong credentials that they were refused, right ones get in.
    #[tokio::test]
    async fn basic_credentials() {
        let basic = basic_auth("u", "p");
        let (host, seen) = fake_server(move |r, _| match r.header("authorization") {
            Some(a) if a == basic => (200, vec![], MANIFEST.as_bytes().to_vec()),
            _ => (
                401,
                vec![("WWW-Authenticate", r#"Basic realm="fake""#.into())],
                b"{}".to_vec(),
            ),
        })
        .await;
        let image = ImageRef::parse(&format!("{host}/a:t")).unwrap();
        // Not whatever this machine's docker config has.
        let http = Http::new(None, false).unwrap();
        let e = plain_remote(http, &image, Credentials::Anonymous)
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, Code::Unauthenticated, "{}", e.message);
        assert!(e.message.contains("none were found"), "{}", e.message);
        let e = Remote::new(&image, &options("u", "x"), "p")
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, Code::Unauthenticated, "{}", e.message);
        assert!(
            e.message
                .contains(&format!("{host} refused the credentials")),
            "{}",
            e.message
        );
        let remote = Remote::new(&image, &options("u", "p"), "p").await.unwrap();
        let m = remote.manifest(None).await.unwrap();
        assert_eq!(m.descriptor.digest, digest_of(MANIFEST.as_bytes()));
        assert!(seen.lock().unwrap().iter().all(|r| r.method == "GET"));
    }
}
