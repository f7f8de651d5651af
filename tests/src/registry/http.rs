//! Just enough of an HTTP/1.1 client (RFC 9112) for a test to ask a
//! registry itself: one request per connection, the answer read whole.
//!
//! Why not an HTTP crate? The test harness must see (and break) the bytes
//! on the wire, which a client library hides; and every exchange here
//! closes its connection (`Connection: close`), so a body ends
//! where `Content-Length` says, or where the connection does. The one
//! complication kept is a chunked body (RFC 9112 §7.1): Go's HTTP client
//! sends one when it cannot know the length beforehand, as in skopeo's
//! upload of a layer it compresses on the way.

use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

pub use super::wire::Head;
use super::wire::{bodiless, read_body, read_head};

/// How long a test waits for one read or write on a connection: a registry
/// on the loopback answers in milliseconds, so this only ends a hang.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// Every manifest type a registry may hold, for an `Accept` header.
/// Distribution answers `404 MANIFEST_UNKNOWN` ("OCI index found, but
/// accept header does not support OCI indexes") to a request for an index
/// whose `Accept` leaves indexes out: it never converts.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// A registry's answer, read whole.
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The status line and headers.
    pub head: Head,
    /// The body (empty for HEAD).
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of the header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; fails the test when it is not.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.head.start, self.text()))
    }
}

/// Sends one request to `addr` (`127.0.0.1:PORT`) and reads the answer
/// whole. `Host` and `Connection: close` are added; `headers` come after.
pub fn request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_request(addr, method, target, headers, body)
        .unwrap_or_else(|e| panic!("{method} http://{addr}{target}: {e}"))
}

/// [`request`], with the error instead of a failed test (for waiting on a
/// server that is still starting).
pub fn try_request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut conn = connect(addr)?;
    let mut head = Head {
        start: format!("{method} {target} HTTP/1.1"),
        headers: vec![
            ("Host".into(), addr.into()),
            ("Connection".into(), "close".into()),
        ],
    };
    head.headers
        .extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.set("Content-Length", &body.len().to_string());
    }
    conn.write_all(&head.to_bytes())?;
    conn.write_all(body)?;
    let mut reader = BufReader::new(conn);
    let head = read_head(&mut reader)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "closed without an answer"))?;
    let status = head.status();
    let body = if bodiless(method, status) {
        Vec::new()
    } else {
        read_body(&mut reader, &head, true)?
    };
    Ok(Response { status, head, body })
}

/// `GET target` with `headers`.
pub fn get(addr: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    request(addr, "GET", target, headers, b"")
}

/// `GET /v2/REPO/manifests/REFERENCE`, accepting every manifest type.
pub fn get_manifest(addr: &str, repo: &str, reference: &str, auth: Option<&str>) -> Response {
    let mut headers = vec![("Accept", ACCEPT_MANIFESTS)];
    headers.extend(auth.map(|a| ("Authorization", a)));
    get(addr, &format!("/v2/{repo}/manifests/{reference}"), &headers)
}

/// A connection to `addr` whose every wait is bounded by [`IO_TIMEOUT`].
pub fn connect(addr: &str) -> io::Result<TcpStream> {
    let sockaddr = addr
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("address {addr:?}")))?;
    let conn = TcpStream::connect_timeout(&sockaddr, IO_TIMEOUT)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(conn)
}

/// `Basic base64(user:password)`, the `Authorization` value of RFC 7617.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 with padding (RFC 4648 §4): twenty lines rather than a
/// dependency, for the one header that needs it.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(basic_auth("u", "p"), "Basic dTpw");
    }
}
