//! The TLS listener: PEM certificate chain and key files, TLS 1.2 and 1.3 (rustls), and
//! HTTP/2 offered by ALPN beside HTTP/1.1, since an edge gateway terminates TLS.
//!
//! The files are read and the pair is checked here, at start, so that a missing file, a
//! file without a certificate, or a key that does not match the certificate is reported
//! with the file names, instead of pingora's panic when the listener starts.

use pingora::listeners::tls::TlsSettings;
use pingora::tls::{ServerConfig, install_default_crypto_provider, load_certs_and_key_files};

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

/// Checks the certificate and key of `tls` and returns pingora's settings for them, with
/// HTTP/2 enabled.
pub fn settings(tls: &Tls) -> Result<TlsSettings, TlsError> {
    install_default_crypto_provider();
    let cert = tls.cert.display().to_string();
    let key = tls.key.display().to_string();
    let fail = |reason: String| TlsError::Files { cert: cert.clone(), key: key.clone(), reason };
    let (certs, private_key) = load_certs_and_key_files(&cert, &key)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail("no certificate, or no private key, was found in them".into()))?;
    ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .map_err(|e| fail(format!("the key does not fit the certificate ({e})")))?;
    let mut settings = TlsSettings::intermediate(&cert, &key).map_err(|e| fail(e.to_string()))?;
    settings.enable_h2();
    Ok(settings)
}
