//! A small OpenID Connect provider for the console's sign-in tests, on its own thread and
//! port: discovery, an authorization endpoint that signs in one user at once (no login
//! page), and a token endpoint that checks the PKCE verifier against the challenge and
//! answers with an ID token signed by the test RSA key (kid `test`, which the gateway
//! trusts). `Mode` makes it misbehave the ways a provider, or an attacker, could.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use sha2::{Digest, Sha256};

use crate::gateway::root;

/// How the provider answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Honest,
    /// The ID token is for another client.
    OtherAudience,
    /// The ID token carries a nonce of another sign-in.
    OtherNonce,
}

struct Grant {
    code: String,
    challenge: String,
    nonce: String,
    used: bool,
}

pub struct Provider {
    pub port: u16,
    mode: Arc<Mutex<Mode>>,
    grants: Arc<Mutex<Vec<Grant>>>,
    /// Token requests whose verifier did not match the challenge.
    pub bad_verifiers: Arc<Mutex<u32>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Provider {
    pub fn start(user: &'static str) -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let p = Provider {
            port,
            mode: Arc::new(Mutex::new(Mode::Honest)),
            grants: Arc::default(),
            bad_verifiers: Arc::default(),
            stop: Arc::default(),
        };
        let (mode, grants, bad, stop) = (p.mode.clone(), p.grants.clone(), p.bad_verifiers.clone(), p.stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let m = *mode.lock().unwrap();
                serve(stream, port, user, m, &grants, &bad);
            }
        });
        p
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

fn serve(mut s: TcpStream, port: u16, user: &str, mode: Mode, grants: &Mutex<Vec<Grant>>, bad: &Mutex<u32>) {
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut length = 0;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let issuer = format!("http://127.0.0.1:{port}");
    let answer = match path {
        "/.well-known/openid-configuration" => json(&serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
        })),
        "/authorize" => {
            let q = pairs(query);
            let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
            assert_eq!((get("response_type").as_str(), get("code_challenge_method").as_str()), ("code", "S256"));
            let code = format!("code-{}", grants.lock().unwrap().len());
            grants.lock().unwrap().push(Grant {
                code: code.clone(),
                challenge: get("code_challenge"),
                nonce: get("nonce"),
                used: false,
            });
            let to = format!("{}?code={code}&state={}", get("redirect_uri"), get("state"));
            format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        }
        "/token" => {
            let q = pairs(&String::from_utf8_lossy(&body));
            let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
            let mut grants = grants.lock().unwrap();
            let grant = grants.iter_mut().find(|g| g.code == get("code") && !g.used);
            match grant {
                None => status(400, "{\"error\":\"invalid_grant\"}"),
                Some(g) => {
                    g.used = true;
                    let challenge = base64url(&Sha256::digest(get("code_verifier").as_bytes()));
                    if challenge != g.challenge {
                        *bad.lock().unwrap() += 1;
                        status(400, "{\"error\":\"invalid_grant\",\"error_description\":\"PKCE\"}")
                    } else {
                        let aud = if mode == Mode::OtherAudience { "another-client".into() } else { get("client_id") };
                        let nonce = if mode == Mode::OtherNonce { "another".into() } else { g.nonce.clone() };
                        json(
                            &serde_json::json!({ "id_token": id_token(&issuer, user, &aud, &nonce), "token_type": "Bearer" }),
                        )
                    }
                }
            }
        }
        _ => status(404, "{}"),
    };
    let _ = s.write_all(answer.as_bytes());
}

fn id_token(issuer: &str, sub: &str, aud: &str, nonce: &str) -> String {
    let key =
        EncodingKey::from_rsa_pem(&std::fs::read(root().join("tests/fixtures/keys/rsa.key.pem")).unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims =
        serde_json::json!({ "iss": issuer, "sub": sub, "aud": aud, "exp": now + 600, "iat": now, "nonce": nonce });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test".into());
    encode(&header, &claims, &key).unwrap()
}

fn json(v: &serde_json::Value) -> String {
    status(200, &v.to_string())
}

fn status(code: u16, body: &str) -> String {
    format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn pairs(text: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    text.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
}

pub fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 0x3f) as usize] as char);
        }
    }
    out
}
