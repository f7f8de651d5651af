//! The auth dance, as Docker Hub does it (distribution's `docs/spec/auth`).
//!
//! ```text
//! GET /v2/alpine/manifests/latest            → 401
//!     WWW-Authenticate: Bearer realm="https://auth.docker.io/token",
//!                       service="registry.docker.io",scope="repository:library/alpine:pull"
//! GET https://auth.docker.io/token?service=…&scope=…   (anonymous, or with Basic)
//!                                            → {"token": "eyJ…"}
//! GET /v2/alpine/manifests/latest
//!     Authorization: Bearer eyJ…             → 200
//! ```
//!
//! The registry never sees a password: it trusts tokens signed by the
//! realm. A registry with plain `htpasswd` auth asks for `Basic` instead,
//! and then gets the user name and password with every request (RFC 7617).

use std::collections::HashMap;

use base64::Engine;

/// A user name and password, for `--username` and `--password-stdin`.
#[derive(Clone)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password (or an access token that stands for one).
    pub password: String,
}

/// Never printed: a trace or an error message must not show a password.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials {{ username: {:?}, password: <hidden> }}",
            self.username
        )
    }
}

impl Credentials {
    /// The `Authorization` header's value for Basic authentication.
    pub fn basic(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// What a `401`'s `WWW-Authenticate` header asks for (RFC 7235).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// Send the user name and password with each request.
    Basic,
    /// Get a token from `realm` for `service` and `scope`, then send it.
    Bearer {
        /// The token server's URL.
        realm: String,
        /// Who the token is for (the registry's name at the realm).
        service: Option<String>,
        /// What it allows: `repository:library/alpine:pull`.
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses a `WWW-Authenticate` value: a scheme, then `key="value"`
    /// pairs separated by commas (a value may hold commas itself, as a
    /// scope of two repositories does: inside quotes they do not count).
    pub fn parse(header: &str) -> Option<Self> {
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut params = HashMap::new();
        let mut rest = rest.trim();
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=')?;
            let (value, after) = match after.strip_prefix('"') {
                Some(quoted) => {
                    let end = quoted.find('"')?;
                    (&quoted[..end], &quoted[end + 1..])
                }
                None => after.split_once(',').map_or((after, ""), |(v, a)| (v, a)),
            };
            params.insert(key.trim().to_ascii_lowercase(), value.to_string());
            rest = after.trim_start_matches([',', ' ']);
        }
        Some(Challenge::Bearer {
            realm: params.remove("realm")?,
            service: params.remove("service"),
            scope: params.remove("scope"),
        })
    }
}

/// The token server's answer. Docker Hub sends both names; the spec
/// says `token`, OAuth2 says `access_token`.
#[derive(Debug, serde::Deserialize)]
pub struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

impl TokenAnswer {
    /// The token, whichever name it came under.
    pub fn token(self) -> Option<String> {
        self.token.or(self.access_token)
    }
}

/// The token request's URL: the realm, with the service and scope as
/// query parameters, percent-encoded (a scope has ':' and '/').
pub fn token_url(realm: &str, service: Option<&str>, scope: &str) -> String {
    let mut url = realm.to_string();
    let mut sep = if realm.contains('?') { '&' } else { '?' };
    for (key, value) in [("service", service), ("scope", Some(scope))] {
        if let Some(value) = value {
            url.push_str(&format!("{sep}{key}={}", percent_encode(value)));
            sep = '&';
        }
    }
    url
}

/// RFC 3986's unreserved characters stay, every other byte becomes %XX.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hubs_challenge_is_read() {
        let header = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#;
        assert_eq!(
            Challenge::parse(header),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
            })
        );
    }

    #[test]
    fn a_comma_inside_quotes_is_part_of_the_value() {
        let header = r#"Bearer realm="http://t/token",scope="repository:a:pull,push""#;
        let Some(Challenge::Bearer { scope, service, .. }) = Challenge::parse(header) else {
            panic!("not read");
        };
        assert_eq!(scope.as_deref(), Some("repository:a:pull,push"));
        assert_eq!(service, None);
    }

    #[test]
    fn basic_and_unknown_schemes() {
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse("Bearer service=\"x\""), None, "no realm");
    }

    #[test]
    fn the_token_url_is_encoded() {
        assert_eq!(
            token_url("http://t/token", Some("reg"), "repository:a/b:pull"),
            "http://t/token?service=reg&scope=repository%3Aa%2Fb%3Apull"
        );
    }

    #[test]
    fn basic_is_base64_of_user_colon_password() {
        let c = Credentials {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        };
        // RFC 7617's own example.
        assert_eq!(c.basic(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(!format!("{c:?}").contains("sesame"));
    }
}
