//! TLS for the client: rustls with ring, the system's CAs plus those of
//! the caller's files, or (`skip_verify`) any certificate, the handshake's
//! signatures still checked; and a client certificate for servers that ask
//! for one (mTLS).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{Http, Io};
use crate::core::files::read_small;

/// What a client trusts and shows in its TLS handshakes.
#[derive(Debug, Default, Clone)]
pub struct TlsFiles {
    /// PEM files of CAs trusted besides the system's, each with what it is
    /// called in messages (`ca_file`, `ca`).
    pub ca: Vec<(PathBuf, &'static str)>,
    /// Accept any certificate.
    pub skip_verify: bool,
    /// The PEM files of client certificates (each a chain) for servers
    /// that ask for one, each with its key's file when the key is not in
    /// the same one. The first the server takes is offered, as Go does.
    pub client: Vec<(PathBuf, Option<PathBuf>)>,
}

/// The bytes of PEM file `path`, called `what` in messages.
fn pem_file(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    read_small(path, what)
        .map_err(|e| e.message)?
        .ok_or_else(|| format!("{what} {}: no such file", path.display()))
}

/// The CAs of the PEM files `files` (none without one). Fails (with words
/// for the caller) when one cannot be read or holds no usable certificate.
pub(super) fn extra_roots(files: &[(PathBuf, &str)]) -> Result<RootCertStore, String> {
    let mut extra_roots = RootCertStore::empty();
    for (path, what) in files {
        let shown = path.display();
        let pem = pem_file(path, what)?;
        let before = extra_roots.len();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("{what} {shown}: {e}"))?;
            extra_roots
                .add(cert)
                .map_err(|e| format!("{what} {shown}: a certificate: {e}"))?;
        }
        if extra_roots.len() == before {
            return Err(format!("{what} {shown} holds no PEM certificate"));
        }
    }
    Ok(extra_roots)
}

/// The client certificate of PEM file `cert` with the key of PEM file `key`
/// (or of `cert` itself), checked to belong together.
pub(super) fn client_cert(cert: &Path, key: Option<&Path>) -> Result<Arc<CertifiedKey>, String> {
    let cert_pem = pem_file(cert, "client certificate")?;
    let shown = cert.display();
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("client certificate {shown}: {e}"))?;
    if chain.is_empty() {
        return Err(format!(
            "client certificate {shown} holds no PEM certificate"
        ));
    }
    let (key_pem, key_path) = match key {
        Some(k) => (pem_file(k, "client key")?, k),
        None => (cert_pem.clone(), cert),
    };
    let key_shown = key_path.display();
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("client key {key_shown}: no usable PEM private key: {e}"))?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider)
        .map(Arc::new)
        .map_err(|e| format!("client key {key_shown} (certificate {shown}): {e}"))
}

impl Http {
    /// `io` with a TLS session to `host` over it.
    pub(super) async fn tls_over(&self, io: Box<dyn Io>, host: &str) -> io::Result<Box<dyn Io>> {
        let config = self.tls_config()?;
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, io)
            .await?;
        Ok(Box::new(tls))
    }

    /// The TLS settings: ring's algorithms, TLS 1.2 and 1.3, HTTP/1.1 by
    /// ALPN, the system's CAs and the caller's (the system's read once, at
    /// the first https connection), the client certificate if any.
    fn tls_config(&self) -> io::Result<Arc<ClientConfig>> {
        self.tls
            .get_or_init(|| {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let builder = ClientConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| format!("TLS settings: {e}"))?;
                let builder = if self.skip_verify {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                } else {
                    let mut roots = self.extra_roots.clone();
                    // Certificates the system has that do not parse are
                    // left out, as Go does.
                    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                    builder.with_root_certificates(roots)
                };
                let mut config = match &self.client_certs[..] {
                    [] => builder.with_no_client_auth(),
                    certs => {
                        builder.with_client_cert_resolver(Arc::new(ClientCerts(certs.to_vec())))
                    }
                };
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Ok(Arc::new(config))
            })
            .clone()
            .map_err(io::Error::other)
    }
}

/// The client certificates of a host, offered as Go's client does: the
/// first whose key can sign as the server asks and, when the server names
/// the CAs it takes, one of whose chain's certificates one of them issued;
/// none when no certificate fits.
#[derive(Debug)]
struct ClientCerts(Vec<Arc<CertifiedKey>>);

impl ResolvesClientCert for ClientCerts {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.0
            .iter()
            .find(|k| {
                k.key.choose_scheme(sigschemes).is_some()
                    && (root_hint_subjects.is_empty()
                        || k.cert.iter().any(|c| {
                            issuer(c).is_some_and(|i| root_hint_subjects.contains(&&i[..]))
                        }))
            })
            .cloned()
    }

    fn has_certs(&self) -> bool {
        !self.0.is_empty()
    }
}

/// The DER of the issuer `Name` (with its SEQUENCE header) of certificate
/// `cert`, as a server names the CAs it takes; webpki (rustls's own
/// certificate reader) parses the certificate.
fn issuer(cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let cert = webpki::EndEntityCert::try_from(cert).ok()?;
    Some(
        rustls::DistinguishedName::in_sequence(cert.issuer())
            .as_ref()
            .to_vec(),
    )
}

/// The verifier of `skip_verify`: any certificate is accepted for any name,
/// but the handshake's signatures are still checked with the provider's
/// algorithms (the connection is at least with the certificate's key).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The issuer a server's list of CAs it takes is matched against.
    #[test]
    fn a_certificate_s_issuer() {
        const SELF_SIGNED: &str = "-----BEGIN CERTIFICATE-----
MIIBgjCCASegAwIBAgIUYGgt9fsWI5lVIfYOEAJ6jbgNckEwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLaXNzdWVyLXRlc3QwHhcNMjYxMjA3MTkzOTMzWhcNMzYxMjA0
MTkzOTMzWjAWMRQwEgYDVQQDDAtpc3N1ZXItdGVzdDBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABI92DLIx/AEaPAsU6Hp8qZ4/MzmzuZmKkkr8RZLbobXWRid80W0A
KaVrHtNFjQ8y6cgOSb0QMS0bZRd5ThQ5yDijUzBRMB0GA1UdDgQWBBTuHXo43okH
FYQtFyanksqKv8+pljAfBgNVHSMEGDAWgBTuHXo43okHFYQtFyanksqKv8+pljAP
BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCbchaRz7HTx1G/Tkwe
10xxlVzju4bDBub3LCUE20U//QIhAJ3XuZZDzCFQM3Kr2v0WSSoyhfw80WAKdBM5
hKezc3JC
-----END CERTIFICATE-----
";
        let der = CertificateDer::from_pem_slice(SELF_SIGNED.as_bytes()).unwrap();
        // SEQUENCE { SET { SEQUENCE { commonName, UTF8String } } }
        let mut want = vec![0x30, 0x16, 0x31, 0x14, 0x30, 0x12];
        want.extend([0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x0b]);
        want.extend(b"issuer-test");
        assert_eq!(issuer(&der), Some(want));
        for bad in [
            &der[..40],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
            &[][..],
        ] {
            assert_eq!(issuer(&CertificateDer::from(bad)), None);
        }
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let e = Http::new(Some(&missing), false).err().unwrap();
        assert!(e.contains("none.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = Http::new(Some(&empty), false).err().unwrap();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let bad = dir.path().join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = Http::new(Some(&bad), false).err().unwrap();
        assert!(e.contains("bad.pem"), "{e}");
        // Read as a small regular file: not /dev/zero without end.
        let e = Http::new(Some(Path::new("/dev/zero")), false)
            .err()
            .unwrap();
        assert_eq!(e, "ca_file /dev/zero: not a regular file");
        assert!(Http::new(None, true).is_ok());
    }
}
