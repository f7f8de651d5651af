//! A token server, as Docker Hub's `auth.docker.io` is one: the realm a
//! registry's `401` sends a client to.
//!
//! The protocol is Distribution's token authentication
//! (<https://distribution.github.io/distribution/spec/auth/token/>): the
//! client asks `GET REALM?service=SERVICE&scope=SCOPE`, anonymously or with
//! Basic credentials, and gets JSON with a `token` (older clients read
//! `access_token`, so servers send both). A real token is a signed JWT the
//! registry checks; this one is a fixed string that [`super::Proxy`]'s
//! bearer mode compares, which is all a client may assume anyway: a token
//! is opaque to it.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use super::http::basic_auth;
use super::listen::Listener;
use super::wire::{query_pairs, read_head};

/// The `service` a test registry's challenge names.
pub const SERVICE: &str = "test-registry";

/// One request the token server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// The `service` query parameter, if any.
    pub service: Option<String>,
    /// Every `scope` parameter (a client may ask for several).
    pub scopes: Vec<String>,
    /// The `Authorization` header, if any (`Basic ...`).
    pub authorization: Option<String>,
    /// What was answered: 200, or 401 for bad credentials.
    pub status: u16,
}

/// A token server on `127.0.0.1`, stopped on drop.
#[derive(Debug)]
pub struct TokenServer {
    listener: Listener,
    token: String,
    seen: Arc<Mutex<Vec<TokenRequest>>>,
}

impl TokenServer {
    /// Gives `token` to anyone who asks.
    pub fn anonymous(token: &str) -> Self {
        Self::start(token, None)
    }

    /// Gives `token` only to a request with Basic credentials `user` and
    /// `password`; others get `401` (as Docker Hub answers a wrong
    /// password: the anonymous path is the one without an Authorization).
    pub fn with_login(token: &str, user: &str, password: &str) -> Self {
        Self::start(token, Some(basic_auth(user, password)))
    }

    fn start(token: &str, expected: Option<String>) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (answer, log) = (token.to_string(), Arc::clone(&seen));
        let listener = Listener::start("token server", move |conn| {
            serve(conn, &answer, expected.as_deref(), &log)
        });
        TokenServer {
            listener,
            token: token.to_string(),
            seen,
        }
    }

    /// The token it gives.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        self.listener.addr()
    }

    /// The realm for a `WWW-Authenticate` challenge:
    /// `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr())
    }

    /// The requests answered so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn serve(
    conn: TcpStream,
    token: &str,
    expected: Option<&str>,
    seen: &Mutex<Vec<TokenRequest>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let Some(head) = read_head(&mut reader)? else {
        return Ok(());
    };
    let (method, target) = head.method_and_target();
    let mut conn = conn;
    if method != "GET" || target.split('?').next() != Some("/token") {
        return respond(&mut conn, "404 Not Found", &[], "{}");
    }
    let query = query_pairs(target);
    let param = |key: &'static str| {
        query
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let authorization = head.header("Authorization").map(String::from);
    // A client that sends credentials must send the right ones; with no
    // login configured, any request is welcome.
    let allowed = match expected {
        Some(expected) => authorization.as_deref() == Some(expected),
        None => true,
    };
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(TokenRequest {
            service: param("service").next(),
            scopes: param("scope").collect(),
            authorization,
            status: if allowed { 200 } else { 401 },
        });
    if !allowed {
        let body = r#"{"details":"incorrect username or password"}"#;
        let challenge = [("WWW-Authenticate", r#"Basic realm="test token server""#)];
        return respond(&mut conn, "401 Unauthorized", &challenge, body);
    }
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        // No `issued_at`: a client would count the 300 s from it.
        "expires_in": 300,
    });
    respond(&mut conn, "200 OK", &[], &body.to_string())
}

fn respond(
    conn: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<()> {
    let mut text = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    conn.write_all(text.as_bytes())?;
    conn.flush()
}
