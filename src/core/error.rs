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

    /// Prefixes the message with what was being done: `"{what}: {message}"`.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// An error from the daemon, with `what` naming the operation and object.
    pub fn from_status(what: impl fmt::Display, status: tonic::Status) -> Self {
        Error::from(status).context(what)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

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

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        use tonic::Code as G;
        let code = match status.code() {
            G::InvalidArgument => Code::InvalidArgument,
            G::NotFound => Code::NotFound,
            G::AlreadyExists => Code::AlreadyExists,
            G::FailedPrecondition => Code::FailedPrecondition,
            G::Unavailable => Code::Unavailable,
            G::DeadlineExceeded => Code::DeadlineExceeded,
            G::Unimplemented => Code::NotImplemented,
            G::PermissionDenied | G::Unauthenticated => Code::PermissionDenied,
            G::Cancelled => Code::Cancelled,
            G::Internal => Code::Internal,
            G::Ok
            | G::Unknown
            | G::ResourceExhausted
            | G::Aborted
            | G::OutOfRange
            | G::DataLoss => Code::Unknown,
        };
        let mut message = status.message().to_string();
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
    fn context_prefixes_and_keeps_the_message() {
        let e = Error::from_status(
            "get container \"x\"",
            tonic::Status::not_found("container \"x\" in namespace \"default\": not found"),
        );
        assert_eq!(e.code, Code::NotFound);
        assert_eq!(
            e.message,
            "get container \"x\": container \"x\" in namespace \"default\": not found"
        );
    }
}
