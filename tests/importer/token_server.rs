//! A token server for `docker-registry`'s token authentication (the scheme Docker Hub, Quay,
//! GHCR and OpenShift's registry use): it checks HTTP Basic credentials and hands out JWTs
//! signed with a key whose self-signed certificate the registry trusts (`rootcertbundle`),
//! carrying the certificate (`x5c`) as distribution verifies it.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;

/// The registry's `service`: the audience of its tokens.
pub const SERVICE: &str = "imagelookup-test-registry";
/// Who signs the tokens, as the registry's `issuer` names it.
pub const ISSUER: &str = "imagelookup-test-issuer";
/// The one user the token server knows, and its password.
pub const USER: (&str, &str) = ("user", "s3cret");

/// What the token server was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asked {
    /// The `scope` query parameter (`repository:<name>:<actions>`).
    pub scope: String,
    /// The `service` query parameter.
    pub service: String,
    /// The user name of the request's HTTP Basic credentials, if any.
    pub user: Option<String>,
}

/// Signs registry tokens.
pub struct Signer {
    key: EcdsaKeyPair,
    certificate_der: Vec<u8>,
    /// The certificate of the signing key, for the registry's `rootcertbundle`.
    pub certificate_pem: String,
}

impl Signer {
    fn new() -> Self {
        let key_pair = rcgen::KeyPair::generate().unwrap();
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_pair.serialize_der(),
            &rng,
        )
        .unwrap();
        let params = rcgen::CertificateParams::new(vec!["token-signer".to_string()]).unwrap();
        let certificate = params.self_signed(&key_pair).unwrap();
        Self {
            key,
            certificate_der: certificate.der().to_vec(),
            certificate_pem: certificate.pem(),
        }
    }

    /// A token granting `actions` on the repository `name` for five minutes.
    pub fn token(&self, name: &str, actions: &[&str]) -> String {
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let standard = base64::engine::general_purpose::STANDARD;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = json!({"typ": "JWT", "alg": "ES256",
                            "x5c": [standard.encode(&self.certificate_der)]});
        let claims = json!({
            "iss": ISSUER, "sub": USER.0, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{}", rand::random::<u64>()),
            "access": [{"type": "repository", "name": name, "actions": actions}],
        });
        let signed = format!(
            "{}.{}",
            url.encode(header.to_string()),
            url.encode(claims.to_string())
        );
        let rng = ring::rand::SystemRandom::new();
        let signature = self.key.sign(&rng, signed.as_bytes()).unwrap();
        format!("{signed}.{}", url.encode(signature.as_ref()))
    }
}

/// A token server on 127.0.0.1, serving until the test binary exits.
pub struct TokenServer {
    /// The URL of its token endpoint: the registry's `realm`.
    pub realm: String,
    /// Its signer, which the tests use to push with a token of their own.
    pub signer: Arc<Signer>,
    asked: Arc<Mutex<Vec<Asked>>>,
}

impl TokenServer {
    /// Starts a token server on a thread of its own.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let signer = Arc::new(Signer::new());
        let asked = Arc::new(Mutex::new(Vec::new()));
        let (serving, noting) = (signer.clone(), asked.clone());
        std::thread::spawn(move || {
            for socket in listener.incoming().flatten() {
                answer(socket, &serving, &noting);
            }
        });
        Self {
            realm,
            signer,
            asked,
        }
    }

    /// What it was asked so far.
    pub fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }
}

/// Answers one token request: a token for the scope's actions to [`USER`], else 401.
fn answer(socket: TcpStream, signer: &Signer, asked: &Mutex<Vec<Asked>>) {
    let mut reader = BufReader::new(socket.try_clone().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        lines.push(line.trim_end().to_string());
    }
    let Some(target) = lines.first().and_then(|l| l.split(' ').nth(1)) else {
        return;
    };
    let url = reqwest::Url::parse(&format!("http://token{target}")).unwrap();
    let query = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    let user = lines
        .iter()
        .filter(|line| {
            line.to_ascii_lowercase()
                .starts_with("authorization: basic ")
        })
        .map(|line| &line["authorization: basic ".len()..])
        .filter_map(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .map(|decoded| String::from_utf8_lossy(&decoded).into_owned())
        .find_map(|pair| {
            pair.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        });
    let (scope, service) = (query("scope"), query("service"));
    asked.lock().unwrap().push(Asked {
        scope: scope.clone(),
        service: service.clone(),
        user: user.as_ref().map(|(name, _)| name.clone()),
    });
    let known = user
        .as_ref()
        .is_some_and(|(u, p)| (u.as_str(), p.as_str()) == USER);
    let (status, body) = match scope
        .strip_prefix("repository:")
        .and_then(|s| s.rsplit_once(':'))
    {
        Some((name, actions)) if known && service == SERVICE => {
            let actions: Vec<&str> = actions.split(',').collect();
            let token = signer.token(name, &actions);
            (
                "200 OK",
                json!({"token": token, "expires_in": 300}).to_string(),
            )
        }
        _ => (
            "401 Unauthorized",
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                .to_string(),
        ),
    };
    let mut socket = socket;
    let _ = write!(
        socket,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}
