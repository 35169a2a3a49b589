//! A failed registry request as an [`Error`] of the right code: an error
//! status and the registry's JSON error envelope, the transport's failures
//! (refused, reset, timed out, stalled), an untrusted certificate, bytes
//! that are not what was asked for.

use std::io;

use hyper::StatusCode;

use crate::core::error::{Code, Error};
use crate::core::registry::http::{is_stalled, Answer, HttpError};

/// Why a registry request failed, before it becomes an [`Error`].
#[derive(Debug)]
pub(super) enum Failure {
    /// 401, with no (other) credentials to answer it with.
    Unauthorized,
    /// 401 from this host, where a redirect from the registry led.
    Foreign(String),
    /// The token realm refused, or gave no token: why.
    Token(String),
    /// An error status, and the answer's body (a JSON error envelope, or
    /// text).
    Status(u16, String),
    /// No answer: the connection, TLS, a timeout.
    Http(HttpError),
    /// An answer's body could not be read.
    Read(io::Error),
    /// The bytes are not those asked for.
    Mismatch(String),
    /// An answer this client cannot use.
    Other(String),
    /// A 401 whose Bearer challenge says `insufficient_scope`: the token
    /// the credentials got does not grant `scope`; the answer's `words`.
    Scope { scope: String, words: String },
    /// Something this library does not do (a docker schema 1 manifest).
    Unsupported(String),
    /// A failure in passing (429, 503, a reset) not tried again: `why`
    /// (the tries used up, or a wait `late` for the call's deadline).
    GaveUp {
        last: Box<Failure>,
        why: String,
        late: bool,
    },
}

impl Failure {
    /// The failure an error status is: its code and its body's words.
    pub(super) async fn status(answer: &mut Answer) -> Failure {
        Failure::Status(answer.status.as_u16(), answer.text().await)
    }
}

/// A registry's JSON error envelope: `{"errors":[{"code":..,"message":..}]}`.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(default)]
    errors: Vec<EnvelopeError>,
}

#[derive(serde::Deserialize)]
struct EnvelopeError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// What an error answer's body says: its envelope's messages, a JSON
/// object's `details`, `message`, `error_description` or `error`, else
/// its first line (nothing for other JSON).
fn body_words(body: &str) -> String {
    if let Ok(envelope) = serde_json::from_str::<Envelope>(body) {
        if !envelope.errors.is_empty() {
            return envelope
                .errors
                .iter()
                .map(|e| {
                    if e.message.is_empty() {
                        e.code.clone()
                    } else {
                        e.message.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
        }
    }
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(body) {
        return ["details", "message", "error_description", "error"]
            .iter()
            .find_map(|k| o.get(*k).and_then(|v| v.as_str()))
            .unwrap_or("")
            .to_string();
    }
    let body = body.trim();
    if body.starts_with('[') {
        return String::new();
    }
    let line = body.lines().next().unwrap_or("");
    line.chars().take(200).collect()
}

/// `HTTP <status> <reason>` and what the body says.
pub(super) fn status_words(status: u16, body: &str) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let words = body_words(body);
    match (reason, words.is_empty()) {
        ("", true) => format!("HTTP {status}"),
        ("", false) => format!("HTTP {status}: {words}"),
        (r, true) => format!("HTTP {status} {r}"),
        (r, false) => format!("HTTP {status} {r}: {words}"),
    }
}

/// `f` as an [`Error`] of the right code: "`what`: `step`: ...". `host` is
/// the registry's; `anonymous` whether no credentials were sent.
pub(super) fn map_error(f: Failure, what: &str, step: &str, host: &str, anonymous: bool) -> Error {
    let (code, text) = describe(f, host, anonymous);
    Error::new(code, format!("{what}: {step}: {text}"))
}

/// `f`'s code and words, as [`map_error`] puts them after the step.
pub(super) fn describe(f: Failure, host: &str, anonymous: bool) -> (Code, String) {
    match f {
        Failure::Unauthorized if anonymous => (
            Code::Unauthenticated,
            format!("{host} asks for credentials (401 Unauthorized) and none were found"),
        ),
        Failure::Unauthorized => (
            Code::Unauthenticated,
            format!("{host} refused the credentials (401 Unauthorized)"),
        ),
        Failure::Scope { scope, words } => (
            Code::PermissionDenied,
            format!(
                "{host} does not grant {} to these credentials (insufficient_scope): {words}",
                if scope.is_empty() {
                    "what was asked"
                } else {
                    &scope
                }
            ),
        ),
        Failure::Foreign(other) => (
            Code::Unauthenticated,
            format!(
                "redirected by {host} to {other}, which asks for credentials \
                 (401 Unauthorized): the registry's are not sent there"
            ),
        ),
        Failure::Token(why) => (
            Code::Unauthenticated,
            format!("{host}: the token request failed: {}", why.trim()),
        ),
        Failure::Status(status, body) => status_error(status, &body),
        Failure::Http(HttpError::Timeout(t)) => (Code::DeadlineExceeded, t),
        Failure::Http(HttpError::Invalid(t)) => (Code::Unknown, t),
        Failure::Http(HttpError::Io {
            authority,
            doing,
            error,
        }) => match certificate_problem(&error) {
            Some(why) => (
                Code::Unavailable,
                format!(
                    "the TLS certificate of {authority} is not trusted: {why} \
                     (give the CA as ca_file, or skip_verify)"
                ),
            ),
            None if client_certificate_wanted(&error) => (
                Code::Unavailable,
                format!(
                    "{doing}: {}: {authority} wants a client certificate it accepts \
                     (`client` in the host's hosts.toml)",
                    chain(&error)
                ),
            ),
            None => (Code::Unavailable, format!("{doing}: {}", chain(&error))),
        },
        Failure::Read(e) => {
            let code = if is_stalled(&e) {
                Code::Unavailable
            } else if e.kind() == io::ErrorKind::TimedOut {
                Code::DeadlineExceeded
            } else if is_transport(&e) {
                Code::Unavailable
            } else {
                Code::Unknown
            };
            (code, chain(&e))
        }
        Failure::Mismatch(t) => (Code::FailedPrecondition, t),
        Failure::Other(t) => (Code::Unknown, t),
        Failure::Unsupported(t) => (Code::NotImplemented, t),
        Failure::GaveUp { last, why, late } => {
            let (code, text) = describe(*last, host, anonymous);
            let code = if late { Code::DeadlineExceeded } else { code };
            (code, format!("{text} ({why})"))
        }
    }
}

/// An error answer's code and words: the envelope's first error code when
/// it says more than the status, else the status.
fn status_error(status: u16, body: &str) -> (Code, String) {
    let by_status = match status {
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        408 | 429 | 502..=504 => Code::Unavailable,
        // Plain HTTP to a TLS registry (Go's server answers so).
        400 if body.contains("HTTP request to an HTTPS server") => Code::Unavailable,
        _ => Code::Unknown,
    };
    let by_envelope = serde_json::from_str::<Envelope>(body)
        .ok()
        .and_then(|e| e.errors.into_iter().next())
        .map(|e| match e.code.as_str() {
            "UNAUTHORIZED" => Code::Unauthenticated,
            "DENIED" => Code::PermissionDenied,
            "BLOB_UNKNOWN" | "MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "NOT_FOUND" => Code::NotFound,
            "TOOMANYREQUESTS" => Code::Unavailable,
            _ => Code::Unknown,
        });
    let code = match by_envelope {
        Some(Code::Unknown) | None => by_status,
        Some(c) => c,
    };
    let text = match (code, by_envelope.is_some()) {
        (Code::NotFound, true) => format!("not found ({})", body_words(body)),
        (Code::NotFound, false) => format!("not found (HTTP {status})"),
        (_, true) => body_words(body),
        (_, false) => status_words(status, body),
    };
    (code, text)
}

/// Walks `e`'s causes, looking into `io::Error`s too (whose `source` skips
/// the error they wrap).
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(e);
    while let Some(e) = next {
        if out.len() > 32 {
            break;
        }
        out.push(e);
        next = match e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    out
}

/// What rustls said about the server's certificate, if that was the
/// failure.
fn certificate_problem(e: &io::Error) -> Option<String> {
    causes(e)
        .into_iter()
        .find_map(|c| match c.downcast_ref::<rustls::Error>() {
            Some(rustls::Error::InvalidCertificate(why)) => Some(format!("{why:?}")),
            _ => None,
        })
}

/// Whether the server ended the handshake for want of a client
/// certificate, or one it takes.
fn client_certificate_wanted(e: &io::Error) -> bool {
    use rustls::AlertDescription as A;
    causes(e).into_iter().any(|c| {
        matches!(
            c.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::AlertReceived(
                A::CertificateRequired | A::BadCertificate | A::UnknownCA
            ))
        )
    })
}

/// Whether `e` is a network failure (refused, reset, closed early, timed
/// out) rather than an answer.
pub(super) fn is_transport(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind as K;
    causes(e).into_iter().any(|c| {
        if let Some(io) = c.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::NotConnected
                    | K::BrokenPipe
                    | K::TimedOut
                    | K::UnexpectedEof
                    | K::HostUnreachable
                    | K::NetworkUnreachable
                    | K::AddrNotAvailable
            );
        }
        if let Some(h) = c.downcast_ref::<hyper::Error>() {
            return h.is_incomplete_message() || h.is_closed() || h.is_canceled();
        }
        false
    })
}

/// `e` and its causes, each said once.
pub(super) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in causes(e) {
        let s = c.to_string();
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::registry::http::HttpError;

    #[test]
    fn registry_answers_become_codes() {
        let envelope = |code: &str| {
            Failure::Status(
                400,
                format!(r#"{{"errors":[{{"code":"{code}","message":"the registry's words"}}]}}"#),
            )
        };
        let server = |status: u16, body: &str| Failure::Status(status, body.into());
        let io = |kind| {
            Failure::Http(HttpError::Io {
                authority: "h".into(),
                doing: "GET http://h/v2/".into(),
                error: io::Error::from(kind),
            })
        };
        let cases = [
            (envelope("DENIED"), Code::PermissionDenied),
            (envelope("UNAUTHORIZED"), Code::Unauthenticated),
            (envelope("MANIFEST_UNKNOWN"), Code::NotFound),
            (envelope("NAME_UNKNOWN"), Code::NotFound),
            (envelope("BLOB_UNKNOWN"), Code::NotFound),
            (envelope("TOOMANYREQUESTS"), Code::Unavailable),
            (envelope("MANIFEST_INVALID"), Code::Unknown),
            // An envelope code that says nothing more: the status.
            (
                server(503, r#"{"errors":[{"code":"UNAVAILABLE"}]}"#),
                Code::Unavailable,
            ),
            (server(403, "forbidden"), Code::PermissionDenied),
            (server(401, ""), Code::Unauthenticated),
            (server(404, "404 page not found"), Code::NotFound),
            (server(503, "down"), Code::Unavailable),
            (server(500, "oops"), Code::Unknown),
            (
                server(400, "Client sent an HTTP request to an HTTPS server.\n"),
                Code::Unavailable,
            ),
            (Failure::Unauthorized, Code::Unauthenticated),
            (Failure::Token("no".into()), Code::Unauthenticated),
            (io(io::ErrorKind::ConnectionRefused), Code::Unavailable),
            (
                Failure::Http(HttpError::Timeout("slow".into())),
                Code::DeadlineExceeded,
            ),
            (
                Failure::Read(io::ErrorKind::TimedOut.into()),
                Code::DeadlineExceeded,
            ),
            (
                Failure::Read(io::ErrorKind::ConnectionReset.into()),
                Code::Unavailable,
            ),
            (Failure::Mismatch("digest".into()), Code::FailedPrecondition),
        ];
        for (f, want) in cases {
            let shown = format!("{f:?}");
            let got = map_error(f, "pull \"h/r:t\"", "resolve", "h", false);
            assert_eq!(got.code, want, "{shown}: {}", got.message);
            assert!(
                got.message.starts_with("pull \"h/r:t\": resolve: "),
                "{}",
                got.message
            );
        }
        let e = map_error(envelope("DENIED"), "p", "s", "h", false);
        assert!(e.message.contains("the registry's words"), "{}", e.message);
        let e = map_error(envelope("MANIFEST_UNKNOWN"), "p", "s", "h", false);
        assert!(
            e.message.ends_with("not found (the registry's words)"),
            "{}",
            e.message
        );
        let e = map_error(
            server(400, "Client sent an HTTP request to an HTTPS server.\n"),
            "p",
            "s",
            "h",
            false,
        );
        assert!(
            e.message.contains("HTTP 400") && e.message.contains("HTTPS server"),
            "{}",
            e.message
        );
        let e = map_error(Failure::Unauthorized, "p", "s", "h", true);
        assert!(e.message.contains("none were found"), "{}", e.message);
        let e = map_error(Failure::Unauthorized, "p", "s", "h", false);
        assert!(
            e.message.contains("refused the credentials"),
            "{}",
            e.message
        );
        let certificate = Failure::Http(HttpError::Io {
            authority: "h:5000".into(),
            doing: "connect to h:5000".into(),
            error: io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            ),
        });
        let e = map_error(certificate, "p", "s", "h", false);
        assert_eq!(e.code, Code::Unavailable);
        assert!(
            e.message
                .contains("the TLS certificate of h:5000 is not trusted: UnknownIssuer")
                && e.message.contains("ca_file"),
            "{}",
            e.message
        );
    }
}
