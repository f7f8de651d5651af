//! A proxy in front of the test registry, to give it what Distribution's
//! plain configuration lacks: Docker Hub's token challenge, a corrupted
//! blob on the wire, and a log of what a client asked for.
//!
//! It speaks HTTP/1.1 with one request per connection: it sends
//! `Connection: close` both ways, so each message ends where its
//! `Content-Length` says or where the connection does (RFC 9112 §9.6).
//! A client that wants to keep connections alive sees the close and opens
//! a new one, as it must. The `Host` header goes through unchanged: the
//! registry builds the URLs it returns (an upload's `Location`) from it,
//! so they point back at the proxy.

use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use super::http::connect;
use super::listen::Listener;
use super::token::{SERVICE, TokenServer};
use super::wire::{Head, bodiless, read_body, read_head};

/// What the proxy does besides forwarding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Nothing: forwards every request as it is (to count them).
    Forward,
    /// Docker Hub's way: a request without `Authorization: Bearer TOKEN`
    /// gets `401` and a challenge naming the token server (`realm`), the
    /// `service`, and the `scope` the request needs.
    RequireBearer {
        /// The token server's URL.
        realm: String,
        /// The service the challenge names.
        service: String,
        /// The one token let through.
        token: String,
    },
    /// Flips one bit of every blob's body on its way to the client (the
    /// middle byte, `^ 0x01`), keeping its length: a pull must notice by
    /// the digest.
    TamperBlob,
    /// As [`Mode::TamperBlob`], for the one blob whose digest is given
    /// (`sha256:…`): a layer, say, while the config passes.
    TamperBlobOf(String),
    /// Answers every manifest request with 200 and a manifest of 5 MiB,
    /// more than any client should take in: a pull must refuse it.
    HugeManifest,
    /// Sends a blob's headers and then nothing, for up to two minutes: a
    /// pull must give up on its own (a read timeout), not hang.
    StallBlob,
}

/// The size of [`Mode::HugeManifest`]'s manifest.
pub const HUGE_MANIFEST: usize = 5 << 20;

impl Mode {
    /// [`Mode::RequireBearer`] for the tokens `tokens` gives.
    pub fn bearer(tokens: &TokenServer) -> Self {
        Mode::RequireBearer {
            realm: tokens.realm(),
            service: SERVICE.into(),
            token: tokens.token().into(),
        }
    }
}

/// One request the proxy saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request target: `/v2/REPO/blobs/sha256:...`.
    pub path: String,
    /// What the client got: the registry's status, or the proxy's `401`.
    pub status: u16,
}

impl Seen {
    /// Whether this fetched a blob's content (`GET .../blobs/sha256:...`;
    /// a `HEAD` only asks whether it is there).
    pub fn is_blob_get(&self) -> bool {
        self.method == "GET" && is_blob_path(&self.path)
    }
}

/// A proxy on `127.0.0.1` in front of `upstream`, stopped on drop.
#[derive(Debug)]
pub struct Proxy {
    listener: Listener,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Proxy {
    /// Starts forwarding to `upstream` (`127.0.0.1:PORT`), with `mode`.
    pub fn start(upstream: &str, mode: Mode) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, upstream) = (Arc::clone(&seen), upstream.to_string());
        let listener = Listener::start("registry proxy", move |conn| {
            serve(conn, &upstream, &mode, &log)
        });
        Proxy { listener, seen }
    }

    /// `127.0.0.1:PORT`: give it to a client in place of the registry's.
    pub fn addr(&self) -> &str {
        self.listener.addr()
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many requests had `method` and a path containing `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        let seen = self.requests();
        seen.iter()
            .filter(|s| s.method == method && s.path.contains(part))
            .count()
    }

    /// How many blobs were fetched (`GET .../blobs/sha256:...`).
    pub fn blob_gets(&self) -> usize {
        self.requests().iter().filter(|s| s.is_blob_get()).count()
    }

    /// Forgets the requests so far (before the part a test looks at).
    pub fn clear(&self) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// `/v2/NAME/blobs/sha256:HEX`, not an upload (`/blobs/uploads/`).
fn is_blob_path(path: &str) -> bool {
    path.starts_with("/v2/") && path.contains("/blobs/sha256:")
}

/// The repository a request is about: NAME in `/v2/NAME/manifests/...`,
/// `/v2/NAME/blobs/...` or `/v2/NAME/tags/list` (a NAME may have slashes).
pub fn repository_of(path: &str) -> Option<&str> {
    let path = path.split('?').next()?.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .filter_map(|marker| path.rfind(marker))
        // The last one: a name may hold `/tags/`, a tag or digest cannot.
        .max()
        .map(|end| &path[..end])
}

/// The challenge a request without the token gets. `GET /v2/` (the
/// "version check" clients start with) names no scope, as Docker Hub's
/// does; a request for a repository asks for `pull`, or `pull,push` to
/// change it.
pub fn challenge(realm: &str, service: &str, method: &str, path: &str) -> String {
    let mut value = format!(r#"Bearer realm="{realm}",service="{service}""#);
    if let Some(repo) = repository_of(path) {
        let actions = if matches!(method, "GET" | "HEAD") {
            "pull"
        } else {
            "pull,push"
        };
        value.push_str(&format!(r#",scope="repository:{repo}:{actions}""#));
    }
    value
}

fn serve(
    client: TcpStream,
    upstream: &str,
    mode: &Mode,
    seen: &Mutex<Vec<Seen>>,
) -> io::Result<()> {
    let mut from_client = BufReader::new(client.try_clone()?);
    let mut to_client = client;
    let Some(mut request) = read_head(&mut from_client)? else {
        return Ok(());
    };
    let body = read_body(&mut from_client, &request, false)?;
    let (method, path) = request.method_and_target();
    let (method, path) = (method.to_string(), path.to_string());
    let record = |status: u16| {
        seen.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
            method: method.clone(),
            path: path.clone(),
            status,
        });
    };

    if let Mode::RequireBearer {
        realm,
        service,
        token,
    } = mode
        && request.header("Authorization") != Some(&format!("Bearer {token}"))
    {
        record(401);
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        let mut head = Head {
            start: "HTTP/1.1 401 Unauthorized".into(),
            headers: Vec::new(),
        };
        head.set("Content-Type", "application/json");
        head.set("Content-Length", &body.len().to_string());
        head.set(
            "WWW-Authenticate",
            &challenge(realm, service, &method, &path),
        );
        head.set("Docker-Distribution-Api-Version", "registry/2.0");
        head.set("Connection", "close");
        to_client.write_all(&head.to_bytes())?;
        to_client.write_all(body.as_bytes())?;
        return to_client.flush();
    }

    if *mode == Mode::HugeManifest && method == "GET" && path.contains("/manifests/") {
        record(200);
        // Valid JSON, all of it: what is too much is its size alone.
        let mut body = vec![b' '; HUGE_MANIFEST];
        body.extend_from_slice(br#"{"schemaVersion":2}"#);
        let mut head = Head {
            start: "HTTP/1.1 200 OK".into(),
            headers: Vec::new(),
        };
        head.set("Content-Type", "application/vnd.oci.image.manifest.v1+json");
        head.set("Content-Length", &body.len().to_string());
        head.set("Connection", "close");
        to_client.write_all(&head.to_bytes())?;
        // The client may hang up once it has had enough: not an error here.
        let _ = to_client.write_all(&body);
        return Ok(());
    }

    // Upstream: the request as it came, but one per connection, and a
    // chunked body (read whole above) sent with its length.
    request.set("Connection", "close");
    request
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("Keep-Alive"));
    if request.header("Transfer-Encoding").is_some() {
        request
            .headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("Transfer-Encoding"));
        request.set("Content-Length", &body.len().to_string());
    }
    let registry = connect(upstream)?;
    let mut from_registry = BufReader::new(registry.try_clone()?);
    let mut to_registry = registry;
    to_registry.write_all(&request.to_bytes())?;
    to_registry.write_all(&body)?;
    to_registry.flush()?;

    let Some(mut response) = read_head(&mut from_registry)? else {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{upstream} closed without answering {method} {path}"),
        ));
    };
    let status = response.status();
    record(status);
    response.set("Connection", "close");
    response
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("Keep-Alive"));

    let tamper = method == "GET"
        && is_blob_path(&path)
        && match mode {
            Mode::TamperBlob => true,
            Mode::TamperBlobOf(digest) => path.ends_with(digest.as_str()),
            _ => false,
        };
    let stall = *mode == Mode::StallBlob && method == "GET" && is_blob_path(&path);
    if bodiless(&method, status) {
        to_client.write_all(&response.to_bytes())?;
    } else if stall && status == 200 {
        // The headers, then silence until the client gives up (its read
        // fails, or it closes): bounded here too, at two minutes.
        to_client.write_all(&response.to_bytes())?;
        to_client.flush()?;
        to_client.set_read_timeout(Some(std::time::Duration::from_secs(120)))?;
        let mut byte = [0u8; 1];
        let _ = io::Read::read(&mut to_client, &mut byte);
        return Ok(());
    } else if tamper && status == 200 {
        let mut body = read_body(&mut from_registry, &response, true)?;
        let middle = body.len() / 2;
        if let Some(byte) = body.get_mut(middle) {
            *byte ^= 0x01;
        }
        // Read whole (and de-chunked, should it have been): say its length.
        response
            .headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("Transfer-Encoding"));
        response.set("Content-Length", &body.len().to_string());
        to_client.write_all(&response.to_bytes())?;
        to_client.write_all(&body)?;
    } else {
        // Everything else streams through as it comes, framing included:
        // the registry closes after it (we asked it to), so do we.
        to_client.write_all(&response.to_bytes())?;
        io::copy(&mut from_registry, &mut to_client)?;
    }
    to_client.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_read_from_paths() {
        assert_eq!(repository_of("/v2/a/b/manifests/latest"), Some("a/b"));
        assert_eq!(repository_of("/v2/img/blobs/sha256:00"), Some("img"));
        assert_eq!(repository_of("/v2/img/blobs/uploads/?x=1"), Some("img"));
        assert_eq!(
            repository_of("/v2/library/tags/tags/list"),
            Some("library/tags")
        );
        assert_eq!(repository_of("/v2/"), None);
    }

    #[test]
    fn the_version_check_gets_no_scope() {
        assert_eq!(
            challenge("http://t/token", "s", "GET", "/v2/"),
            r#"Bearer realm="http://t/token",service="s""#
        );
        assert_eq!(
            challenge("http://t/token", "s", "HEAD", "/v2/a/manifests/1"),
            r#"Bearer realm="http://t/token",service="s",scope="repository:a:pull""#
        );
    }
}
