//! One error type for the whole library: a code (the C status it becomes) and
//! a message that says what failed, keeping the daemon's own words.

use std::fmt;

/// What kind of failure; the FFI layer turns each into the `ctrd_status` of
/// the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    Unavailable,
    DeadlineExceeded,
    NotImplemented,
    PermissionDenied,
    Unauthenticated,
    Cancelled,
    Io,
    Forked,
    Internal,
    Unknown,
}

/// A failure with its code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }

    /// Prefixes the message with what was being done: `"{what}: {message}"`,
    /// saying each thing once: a message that already starts with `what`
    /// stays as it is, and leading parts of the message that `what` already
    /// names (the daemon's `container "x": ...` under `create container "x"
    /// in namespace "ns"`) are dropped.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        let what = what.to_string();
        if what.is_empty() || self.message.starts_with(&what) {
            return self;
        }
        let mut rest = self.message.as_str();
        while let Some((head, tail)) = rest.split_once(": ") {
            if head.len() < 8 || tail.is_empty() || !what.contains(head) {
                break;
            }
            rest = tail;
        }
        self.message = format!("{what}: {rest}");
        self
    }

    /// [`Error::context`] for the daemon's own message: when that already
    /// names every object `what` names (`container "x" in namespace "ns":
    /// not found`, or `task x not found`, under `start task "x"`), it is
    /// kept as it is.
    pub fn daemon_context(self, what: impl fmt::Display) -> Self {
        let what = what.to_string();
        let names = quoted(&what);
        if !names.is_empty() && names.iter().all(|n| names_in(&self.message, n)) {
            return self;
        }
        self.context(what)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// The quoted items of `s` (as `{:?}` writes them), quotes included.
fn quoted(s: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut chars = s.char_indices();
    while let Some((start, c)) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut escaped = false;
        for (i, c) in chars.by_ref() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    if i > start + 1 {
                        items.push(s[start..=i].to_string());
                    }
                    break;
                }
                _ => {}
            }
        }
    }
    items
}

/// Whether `message` names `item` (a quoted name): quoted the same way, or
/// bare as a whole word.
fn names_in(message: &str, item: &str) -> bool {
    if message.contains(item) {
        return true;
    }
    let bare = &item[1..item.len() - 1];
    let part_of_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    message.match_indices(bare).any(|(i, _)| {
        let before = message[..i].chars().next_back();
        let after = message[i + bare.len()..].chars().next();
        !before.is_some_and(part_of_name) && !after.is_some_and(part_of_name)
    })
}

/// Appends the `source()` chain of `err` to `msg`, skipping repeats, so that a
/// transport failure names its cause ("No such file or directory", ...).
fn with_sources(mut msg: String, err: &dyn std::error::Error) -> String {
    let mut next = err.source();
    while let Some(e) = next {
        let s = e.to_string();
        if !s.is_empty() && !msg.contains(&s) {
            msg.push_str(": ");
            msg.push_str(&s);
        }
        next = e.source();
    }
    msg
}

/// How a call failed below gRPC, when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// No connection could be made (no socket, refused, no permission).
    Connect,
    /// The connection broke, was reset, or did not carry HTTP/2.
    Broken,
}

/// Classifies a failed call by the types in its `source()` chain: a status
/// the daemon sent has none; one tonic made from a connection that could not
/// be made or broke carries the transport's error (h2's, an I/O error, or
/// the join error of a connection's making that was cancelled). `None` for
/// the daemon's own answers.
pub fn transport_failure(status: &tonic::Status) -> Option<Transport> {
    use std::io::ErrorKind as K;
    let mut found = None;
    let mut next = std::error::Error::source(status);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                K::NotFound | K::ConnectionRefused | K::PermissionDenied | K::AddrNotAvailable
            ) {
                return Some(Transport::Connect);
            }
            found = Some(Transport::Broken);
        } else if e.is::<h2::Error>() || e.is::<tokio::task::JoinError>() {
            found = Some(Transport::Broken);
        }
        next = e.source();
    }
    found
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        use tonic::Code as G;
        if transport_failure(&status).is_some() {
            // Whatever code tonic chose (Unknown for a reset, Cancelled for a
            // closed connection, Internal for an h2 protocol error): the
            // daemon did not answer, the connection failed.
            let message = with_sources(status.message().to_string(), &status);
            return Error::new(Code::Unavailable, message);
        }
        let code = match status.code() {
            G::InvalidArgument => Code::InvalidArgument,
            G::NotFound => Code::NotFound,
            G::AlreadyExists => Code::AlreadyExists,
            G::FailedPrecondition => Code::FailedPrecondition,
            G::Unavailable => Code::Unavailable,
            G::DeadlineExceeded => Code::DeadlineExceeded,
            G::Unimplemented => Code::NotImplemented,
            G::PermissionDenied => Code::PermissionDenied,
            G::Unauthenticated => Code::Unauthenticated,
            G::Cancelled => Code::Cancelled,
            G::Internal => Code::Internal,
            G::Ok
            | G::Unknown
            | G::ResourceExhausted
            | G::Aborted
            | G::OutOfRange
            | G::DataLoss => Code::Unknown,
        };
        let mut message = crate::core::daemon::ident::cut_long_words(status.message());
        if code == Code::Unknown && status.code() != G::Unknown {
            message = format!("{} ({:?})", message, status.code());
        }
        Error::new(code, with_sources(message, &status))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(Code::Io, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_map_to_the_status_of_the_same_name() {
        let cases = [
            (tonic::Code::NotFound, Code::NotFound),
            (tonic::Code::AlreadyExists, Code::AlreadyExists),
            (tonic::Code::FailedPrecondition, Code::FailedPrecondition),
            (tonic::Code::Unavailable, Code::Unavailable),
            (tonic::Code::DeadlineExceeded, Code::DeadlineExceeded),
            (tonic::Code::Unimplemented, Code::NotImplemented),
            (tonic::Code::PermissionDenied, Code::PermissionDenied),
            (tonic::Code::Unauthenticated, Code::Unauthenticated),
            (tonic::Code::Cancelled, Code::Cancelled),
            (tonic::Code::InvalidArgument, Code::InvalidArgument),
            (tonic::Code::Internal, Code::Internal),
            (tonic::Code::Unknown, Code::Unknown),
            (tonic::Code::DataLoss, Code::Unknown),
        ];
        for (grpc, ours) in cases {
            let e = Error::from(tonic::Status::new(grpc, "daemon words"));
            assert_eq!(e.code, ours, "{grpc:?}");
            assert!(e.message.contains("daemon words"), "{}", e.message);
        }
    }

    #[test]
    fn transport_failures_are_unavailable_whatever_code_tonic_chose() {
        use std::io::ErrorKind as K;
        for (kind, want) in [
            (K::ConnectionReset, Transport::Broken),
            (K::BrokenPipe, Transport::Broken),
            (K::UnexpectedEof, Transport::Broken),
            (K::ConnectionAborted, Transport::Broken),
            (K::ConnectionRefused, Transport::Connect),
            (K::NotFound, Transport::Connect),
        ] {
            let status = tonic::Status::from_error(Box::new(std::io::Error::new(kind, "boom")));
            assert_eq!(transport_failure(&status), Some(want), "{kind:?}");
            let e = Error::from(status);
            assert_eq!(e.code, Code::Unavailable, "{kind:?}: {}", e.message);
            assert!(e.message.contains("boom"), "{}", e.message);
        }
        // The daemon's own answer carries no source: its code stands.
        let answer = tonic::Status::new(tonic::Code::Unknown, "transport error in the daemon");
        assert_eq!(transport_failure(&answer), None);
        assert_eq!(Error::from(answer).code, Code::Unknown);
    }

    /// The error a call of a client gives for the daemon's `status` (the
    /// library's own path: `Client::status_error`).
    fn daemon_error(what: &str, status: tonic::Status) -> Error {
        crate::core::Client::connect(Some("/run/none/containerd.sock"), Some("ns"))
            .unwrap()
            .status_error(what, status)
    }

    #[test]
    fn context_says_each_thing_once() {
        let not_found = |m: &str| tonic::Status::not_found(m);
        for (what, status, want) in [
            (
                "container \"x\" in namespace \"ns\"",
                not_found("container \"x\" in namespace \"ns\": not found"),
                "container \"x\" in namespace \"ns\": not found",
            ),
            (
                "create container \"x\" in namespace \"ns\"",
                tonic::Status::already_exists("container \"x\": already exists"),
                "create container \"x\" in namespace \"ns\": already exists",
            ),
            // A message naming everything `what` names needs no prefix.
            (
                "task \"x\"",
                not_found("container \"x\" in namespace \"ns\": not found"),
                "container \"x\" in namespace \"ns\": not found",
            ),
            (
                "start task \"x\"",
                not_found("task x not found"),
                "task x not found",
            ),
            (
                "start task \"x\"",
                not_found("task x1 not found"),
                "start task \"x\": task x1 not found",
            ),
        ] {
            assert_eq!(daemon_error(what, status).message, want, "{what}");
        }
        // Our own context stays, whatever the message names.
        let e = Error::new(Code::Unknown, "remove snapshot \"x\": busy")
            .context("container \"x\" was deleted, but its rootfs");
        assert_eq!(
            e.message,
            "container \"x\" was deleted, but its rootfs: remove snapshot \"x\": busy"
        );
        assert_eq!(quoted(r#"a "b" c "d\"e" "" f"#), [r#""b""#, r#""d\"e""#]);
        // Short or unrelated heads stay.
        let e = Error::new(Code::Unknown, "io: broken").context("io thing");
        assert_eq!(e.message, "io thing: io: broken");
    }

    #[test]
    fn context_prefixes_and_keeps_the_message() {
        let e = daemon_error(
            "get container \"x\"",
            tonic::Status::permission_denied("no access to the metadata store"),
        );
        assert_eq!(e.code, Code::PermissionDenied);
        assert_eq!(
            e.message,
            "get container \"x\": no access to the metadata store"
        );
    }
}
