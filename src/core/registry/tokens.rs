//! The bearer tokens of a session: kept per realm, service and scope, so
//! that a pull of many blobs asks the realm once; asked again before they
//! expire (the answer's `expires_in`, 60 s when it says nothing, as
//! docker's token spec has it), or once when the registry refuses the one
//! sent (a 401 mid-pull: a token the registry counts as expired sooner,
//! or revoked). One request at a time per key: requests that meet a
//! missing or refused token at once wait for the one new token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::errors::Failure;
use super::{Endpoint, Remote};

/// A token's lifetime when the realm's answer does not say.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

/// A token from a realm: its value and how long it lives (`expires_in`).
pub(super) struct Token {
    pub(super) value: String,
    pub(super) lifetime: Option<Duration>,
}

/// Where a token comes from and what it is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct TokenKey {
    pub(super) realm: String,
    pub(super) service: Option<String>,
    pub(super) scope: String,
}

/// A token kept, and until when it is used without asking again: a
/// tenth of its lifetime before its end.
struct Kept {
    value: String,
    fresh_until: Instant,
}

/// The tokens of one host, by key; each slot's lock is held while its
/// token is asked for.
#[derive(Default)]
pub(super) struct Tokens {
    slots: Mutex<HashMap<TokenKey, Arc<tokio::sync::Mutex<Option<Kept>>>>>,
}

impl Tokens {
    fn slot(&self, key: &TokenKey) -> Arc<tokio::sync::Mutex<Option<Kept>>> {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone()
    }
}

impl Remote {
    /// The token for `key` at `host`: the one kept while it is fresh,
    /// unless it is `refused` (the token a 401 just answered); else a new
    /// one from the realm, kept for the next requests. A token another
    /// request got meanwhile is taken as it is.
    pub(super) async fn bearer(
        &self,
        host: &Endpoint,
        key: &TokenKey,
        refused: Option<&str>,
    ) -> Result<String, Failure> {
        let slot = host.tokens.slot(key);
        let mut kept = slot.lock().await;
        if let Some(k) = kept.as_ref() {
            if Some(k.value.as_str()) != refused && Instant::now() < k.fresh_until {
                return Ok(k.value.clone());
            }
        }
        let asked = Instant::now();
        let token = self
            .token(host, &key.realm, key.service.as_deref(), &key.scope)
            .await?;
        let lifetime = token.lifetime.unwrap_or(DEFAULT_LIFETIME);
        *kept = Some(Kept {
            value: token.value.clone(),
            fresh_until: asked + lifetime - lifetime / 10,
        });
        Ok(token.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::Descriptor;
    use crate::core::error::Code;
    use crate::core::registry::auth::basic_auth;
    use crate::core::registry::fake::{fake_server, json, Seen};
    use crate::core::registry::tests::{digest_of, options, read_all, BLOB, MANIFEST};
    use crate::core::registry::ImageRef;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Token requests among what a fake server saw.
    fn tokens(seen: &std::sync::Mutex<Vec<Seen>>) -> Vec<Seen> {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with("/token"))
            .cloned()
            .collect()
    }

    /// A registry whose realm numbers its tokens (`tok1`, `tok2`, ...) with
    /// `expires_in` from `lifetime`, and that takes the tokens `valid`
    /// says it takes (by number): blobs are asked by several requests at
    /// once; a token the registry stops taking is asked again once per
    /// refusal, not once per request.
    async fn numbered(
        lifetime: Option<u64>,
        valid: impl Fn(usize, &str) -> bool + Send + Sync + 'static,
    ) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let issued = AtomicUsize::new(0);
        let basic = basic_auth("u", "p");
        let blob = format!("/v2/a/blobs/{}", digest_of(BLOB));
        fake_server(move |r, me| {
            if r.path.starts_with("/token") {
                assert_eq!(r.header("authorization"), Some(basic.as_str()));
                let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                let body = match lifetime {
                    Some(s) => format!(r#"{{"token":"tok{n}","expires_in":{s}}}"#),
                    None => format!(r#"{{"token":"tok{n}"}}"#),
                };
                return json(200, &body);
            }
            let number = r
                .header("authorization")
                .and_then(|a| a.strip_prefix("Bearer tok"))
                .and_then(|n| n.parse::<usize>().ok());
            if !number.is_some_and(|n| valid(n, &r.path)) {
                let challenge = format!(
                    r#"Bearer realm="http://{me}/token",service="fake",scope="repository:a:pull",error="invalid_token""#
                );
                return (401, vec![("WWW-Authenticate", challenge)], b"{}".to_vec());
            }
            match r.path.as_str() {
                "/v2/" => json(200, "{}"),
                "/v2/a/manifests/t" => (200, vec![], MANIFEST.as_bytes().to_vec()),
                p if p == blob => (200, vec![], BLOB.to_vec()),
                _ => json(404, "{}"),
            }
        })
        .await
    }

    fn blob() -> Descriptor {
        Descriptor {
            media_type: "application/octet-stream".into(),
            digest: digest_of(BLOB),
            size: BLOB.len() as i64,
            annotations: Default::default(),
        }
    }

    #[tokio::test]
    async fn one_token_per_scope_for_many_requests() {
        let (host, seen) = numbered(Some(300), |_, _| true).await;
        let image = ImageRef::parse(&format!("{host}/a:t")).unwrap();
        let remote = Remote::new(&image, &options("u", "p"), "pull")
            .await
            .unwrap();
        remote.manifest(None).await.unwrap();
        let d = blob();
        let streams = futures_util::future::join_all((0..6).map(|_| remote.blob(&d, 0))).await;
        for s in streams {
            assert_eq!(read_all(s.unwrap().0).await.unwrap(), BLOB);
        }
        let asked = tokens(&seen);
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert!(
            asked[0].path.ends_with("scope=repository%3Aa%3Apull"),
            "{}",
            asked[0].path
        );
    }

    /// The registry stops taking the first token after the manifest (as
    /// one that expired sooner than its `expires_in` said): the blobs asked
    /// at once with it get a 401 each, and one new token serves them all.
    #[tokio::test]
    async fn a_refused_token_is_asked_again_once() {
        let (host, seen) = numbered(Some(300), |n, path| n >= 2 || !path.contains("/blobs/")).await;
        let image = ImageRef::parse(&format!("{host}/a:t")).unwrap();
        let remote = Remote::new(&image, &options("u", "p"), "pull")
            .await
            .unwrap();
        remote.manifest(None).await.unwrap();
        let d = blob();
        let streams = futures_util::future::join_all((0..4).map(|_| remote.blob(&d, 0))).await;
        for s in streams {
            assert_eq!(read_all(s.unwrap().0).await.unwrap(), BLOB);
        }
        assert_eq!(tokens(&seen).len(), 2);
        // The next requests carry the new one from the start.
        let before = seen.lock().unwrap().len();
        let (s, _) = remote.blob(&d, 0).await.unwrap();
        assert_eq!(read_all(s).await.unwrap(), BLOB);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), before + 1);
        assert_eq!(seen[before].header("authorization"), Some("Bearer tok2"));
    }

    /// A token refused again after it was asked anew: the 401 is final,
    /// after one new token, not a loop.
    #[tokio::test]
    async fn a_second_refusal_is_final() {
        let (host, seen) = numbered(Some(300), |_, path| !path.contains("/manifests/")).await;
        let image = ImageRef::parse(&format!("{host}/a:t")).unwrap();
        let remote = Remote::new(&image, &options("u", "p"), "pull")
            .await
            .unwrap();
        let e = remote.manifest(None).await.err().unwrap();
        assert_eq!(e.code, Code::Unauthenticated, "{}", e.message);
        assert!(
            e.message.contains(&format!(
                "{host} refused the credentials (401 Unauthorized)"
            )),
            "{}",
            e.message
        );
        assert_eq!(tokens(&seen).len(), 2);
    }

    /// `expires_in`: a token is asked again before it ends, without a 401
    /// first; none said: 60 s.
    #[tokio::test]
    async fn tokens_are_renewed_before_they_expire() {
        let (host, seen) = numbered(Some(1), |_, _| true).await;
        let image = ImageRef::parse(&format!("{host}/a:t")).unwrap();
        let remote = Remote::new(&image, &options("u", "p"), "pull")
            .await
            .unwrap();
        remote.manifest(None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        remote.manifest(None).await.unwrap();
        assert_eq!(tokens(&seen).len(), 2);
        let statuses = seen.lock().unwrap().len();
        // /v2/ twice (the 401, then with the token), the token, the
        // manifest; then the new token and the manifest.
        assert_eq!(statuses, 6);

        let (host, seen) = numbered(None, |_, _| true).await;
        let image = ImageRef::parse(&format!("{host}/a:t")).unwrap();
        let remote = Remote::new(&image, &options("u", "p"), "pull")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        remote.manifest(None).await.unwrap();
        assert_eq!(tokens(&seen).len(), 1);
    }
}
