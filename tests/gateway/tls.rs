//! The TLS listener: HTTP/1.1 and HTTP/2 (by ALPN) over TLS go through the same request
//! path as plain HTTP, and bad certificate files stop the gateway with a clear error.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::{Gateway, Setup, bearer, free_port, root};

const C42: &str = "/v1/orgs/acme/projects/web/containers/c-42";

fn tls_section(port: u16) -> String {
    let dir = root().join("tests/fixtures/tls");
    format!(
        "[gateway.tls]\nlisten = \"127.0.0.1:{port}\"\ncert = \"{}\"\nkey = \"{}\"\n\n[gateway]",
        dir.join("server.pem").display(),
        dir.join("server.key.pem").display()
    )
}

async fn connect(port: u16, alpn: &[u8]) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(root().join("tests/fixtures/tls/ca.pem")).unwrap();
    roots.add(ca).unwrap();
    let mut config = ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn http1_and_http2_over_tls_are_decided_and_forwarded_like_plain_http() {
    let tls_port = free_port();
    let section = tls_section(tls_port);
    let gw = Gateway::start_with(Setup { replace: &[("[gateway]", &section)], ..Default::default() });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "no TLS listener: {}", gw.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let dave = bearer("dave");
    let token = dave.trim_start_matches("Authorization: ").to_string();
    runtime().block_on(async {
        // HTTP/1.1 over TLS.
        let mut tls = connect(tls_port, b"http/1.1").await;
        let request = format!("GET {C42} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{dave}\r\n\r\n");
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");

        // HTTP/2: an allowed request, a denial, an ambiguous path, and no token.
        let tls = connect(tls_port, b"h2").await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "h2 was not negotiated");
        let (client, connection) = h2::client::handshake(tls).await.unwrap();
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut client = client.ready().await.unwrap();
        for (method, path, auth, want) in [
            ("GET", C42.to_string(), true, 200),
            ("DELETE", C42.to_string(), true, 403),
            ("GET", "/v1/orgs/acme/projects/web/containers/../containers/c-42".to_string(), true, 400),
            ("GET", "/v1/orgs/acme/projects/web/containers/c%2F42".to_string(), true, 400),
            ("GET", C42.to_string(), false, 401),
        ] {
            let mut request = http::Request::builder().method(method).uri(format!("https://localhost{path}"));
            if auth {
                request = request.header("authorization", token.as_str());
            }
            let (response, _) = client.send_request(request.body(()).unwrap(), true).unwrap();
            let response = response.await.unwrap();
            assert_eq!(response.status().as_u16(), want, "{method} {path} over h2");
            client = client.ready().await.unwrap();
        }
    });
    let seen = gw.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|r| r.starts_with(&format!("GET {C42} HTTP/1.1\r\n"))), "{seen:?}");
    assert!(seen.iter().all(|r| r.to_ascii_lowercase().contains("x-portcullis-principal: dave\r\n")), "{seen:?}");
}

#[test]
fn a_certificate_that_does_not_load_stops_the_gateway_with_the_file_names() {
    let section = format!(
        "[gateway.tls]\nlisten = \"127.0.0.1:{}\"\ncert = \"{}\"\nkey = \"{}\"\n\n[gateway]",
        free_port(),
        root().join("tests/fixtures/tls/server.pem").display(),
        root().join("tests/fixtures/keys/ec.key.pem").display()
    );
    let err = super::refused_to_start("serve", |shipped| shipped.replacen("[gateway]", &section, 1));
    assert!(err.contains("server.pem") && err.contains("ec.key.pem") && err.contains("does not fit"), "{err}");
}
