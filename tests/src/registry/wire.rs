//! HTTP/1.1 messages on the wire (RFC 9112): a head (start line and
//! header fields), then a body framed by `Transfer-Encoding: chunked`, by
//! `Content-Length`, or by the end of the connection. What the client in
//! [`super::http`], the proxy and the token server share.

use std::io::{self, BufRead};

/// The start line and headers of a request or a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// `GET /v2/ HTTP/1.1` or `HTTP/1.1 200 OK`, as sent.
    pub start: String,
    /// The header fields in their order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of the header `name` (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The status code of a response's head.
    pub fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {:?}", self.start))
    }

    /// The method and target of a request's head (`GET`, `/v2/`).
    pub fn method_and_target(&self) -> (&str, &str) {
        let mut words = self.start.split(' ');
        match (words.next(), words.next()) {
            (Some(method), Some(target)) => (method, target),
            _ => panic!("not a request line: {:?}", self.start),
        }
    }

    /// Removes every `name` header, and adds `name: value` instead.
    pub fn set(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// The head as it goes on the wire, blank line included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = format!("{}\r\n", self.start);
        for (name, value) in &self.headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        text.into_bytes()
    }
}

/// Reads a message head: lines up to the empty one. `None` when the peer
/// closed the connection before sending anything, or opened it with a TLS
/// handshake instead (skopeo with `--tls-verify=false` tries HTTPS first,
/// and falls back to HTTP when the connection closes).
pub fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    // 0x16: a TLS record of type "handshake" (RFC 8446 §5.1).
    if reader.fill_buf()?.first() == Some(&0x16) {
        return Ok(None);
    }
    let mut start = String::new();
    if reader.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed inside a message head",
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, format!("bad header {line:?}"))
        })?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let start = start.trim_end_matches(['\r', '\n']).to_string();
    Ok(Some(Head { start, headers }))
}

/// Reads the body that follows `head`: chunked, `Content-Length` bytes, or
/// (a response only: `to_eof`) everything up to the end of the connection.
pub fn read_body(reader: &mut impl BufRead, head: &Head, to_eof: bool) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let chunked = head
        .header("Transfer-Encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            // A size may carry `;extensions`, which nobody here uses.
            let size = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, format!("chunk size {size:?}"))
            })?;
            if size == 0 {
                // Trailer fields, then the final empty line.
                while read_line_len(reader)? > 2 {}
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            read_line_len(reader)?; // the CRLF after the chunk's data
        }
    }
    match head.header("Content-Length") {
        Some(length) => {
            let length: usize = length
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?;
            body.resize(length, 0);
            reader.read_exact(&mut body)?;
        }
        None if to_eof => {
            reader.read_to_end(&mut body)?;
        }
        None => {}
    }
    Ok(body)
}

fn read_line_len(reader: &mut impl BufRead) -> io::Result<usize> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)
}

/// Whether a response to `method` with `status` has no body, whatever its
/// headers say (RFC 9110 §6.4.1: HEAD, 1xx, 204, 304).
pub fn bodiless(method: &str, status: u16) -> bool {
    method == "HEAD" || status < 200 || status == 204 || status == 304
}

/// Decodes `%XX` escapes and `+` in a query string's value (the form
/// encoding clients use for `scope=repository%3Aimg%3Apull`).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
            (b'+', ..) => out.push(b' '),
            (byte, ..) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `key=value` pairs of a request target's query, decoded.
pub fn query_pairs(target: &str) -> Vec<(String, String)> {
    let Some((_, query)) = target.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_decoded() {
        assert_eq!(
            query_pairs("/token?service=reg&scope=repository%3Aa%2Fb%3Apull"),
            vec![
                ("service".to_string(), "reg".to_string()),
                ("scope".to_string(), "repository:a/b:pull".to_string())
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn a_chunked_body_is_joined() {
        let head = Head {
            start: "HTTP/1.1 200 OK".into(),
            headers: vec![("Transfer-Encoding".into(), "chunked".into())],
        };
        let wire = b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let body = read_body(&mut &wire[..], &head, true).unwrap();
        assert_eq!(body, b"abcde");
    }
}
