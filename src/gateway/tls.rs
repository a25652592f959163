//! The TLS listener's configuration: PEM certificate chain and key files, TLS 1.2 and 1.3
//! (rustls), and HTTP/2 offered by ALPN beside HTTP/1.1, since an edge gateway terminates
//! TLS.
//!
//! The files are read and the pair is checked at start, so that a missing file, a file
//! without a certificate, or a key that does not match the certificate is reported with the
//! file names.

use std::sync::Arc;

use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Tls;

/// Why the TLS listener cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "cannot use TLS files {cert} and {key}: {reason}; give a PEM certificate chain as `cert` and its PEM \
         private key (PKCS#8, PKCS#1 or SEC1) as `key` under [gateway.tls]"
    )]
    Files { cert: String, key: String, reason: String },
}

/// The ALPN protocols offered, most preferred first.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Reads and checks the certificate and key of `tls`: the server configuration, with
/// HTTP/2 and HTTP/1.1 offered by ALPN.
pub fn server_config(tls: &Tls) -> Result<Arc<ServerConfig>, TlsError> {
    let cert = tls.cert.display().to_string();
    let key = tls.key.display().to_string();
    let fail = |reason: String| TlsError::Files { cert: cert.clone(), key: key.clone(), reason };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .map_err(|e| fail(format!("cannot read {cert}: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| fail(format!("{cert} is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(fail(format!("no certificate was found in {cert}")));
    }
    let private_key =
        PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| fail(format!("no private key was found in {key} ({e})")))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .map_err(|e| fail(format!("the key does not fit the certificate ({e})")))?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
