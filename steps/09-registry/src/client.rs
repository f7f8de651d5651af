//! One registry, one repository: HTTP requests with the auth dance done
//! for the caller, each request in the trace.
//!
//! ureq does the HTTP (connections, TLS with rustls, redirects, timeouts);
//! what the distribution API says about those requests is here: which
//! status means what, what to do with a `401`, which headers to send.

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use step01_chroot::trace::Trace;
use step01_chroot::traced::Traced;
use ureq::Body;
use ureq::http::Response;

use crate::auth::{Challenge, Credentials, TokenAnswer, token_url};
use crate::error::{RegistryError, Result};
use crate::reference::{ImageRef, is_loopback};

/// How long a registry may stay silent in the middle of an answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a small answer (a manifest, a config, a token) may take in
/// all: a registry that sends one byte every 29 s never trips the read
/// timeout, and must not hold a pull (and the store's lock) for ever.
pub const SMALL_BODY_TIME: Duration = Duration::from_secs(60);

/// The most a token server's answer or an error body may be.
const SMALL_BODY: u64 = 1 << 20;

/// A client for one repository of one registry.
pub struct Client {
    agent: ureq::Agent,
    /// `http(s)://HOST/v2/`.
    pub base: String,
    /// `library/alpine`.
    pub repository: String,
    /// The reference, for error messages.
    reference: String,
    credentials: Option<Credentials>,
    /// The `Authorization` value that worked, kept for the next request
    /// (and for the other layers' threads).
    authorization: Mutex<Option<String>>,
    trace: Trace,
}

/// A response that arrived, shown in the trace as `200 OK (type, digest)`.
pub struct Answer(pub Response<Body>);

impl Traced for Answer {
    fn shown(&self) -> String {
        let status = self.0.status();
        let header = |name| self.0.headers().get(name).and_then(|v| v.to_str().ok());
        let mut shown = format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        let details: Vec<&str> = match status.as_u16() {
            401 => header("www-authenticate").into_iter().collect(),
            _ => ["content-type", "docker-content-digest"]
                .into_iter()
                .filter_map(header)
                .collect(),
        };
        if !details.is_empty() {
            shown.push_str(&format!(" ({})", details.join(", ")));
        }
        shown
    }
}

impl Client {
    /// A client for `reference`'s repository.
    pub fn new(reference: &ImageRef, credentials: Option<Credentials>, trace: Trace) -> Self {
        let base = reference.api_base();
        let loopback = base.starts_with("http://");
        let agent = ureq::Agent::config_builder()
            // ureq follows http_proxy and its kin; a registry on this
            // machine is reached directly, or its plain-HTTP requests (and
            // any password in them) would go through the proxy.
            .proxy(if loopback {
                None
            } else {
                ureq::Proxy::try_from_env()
            })
            // A 401 or 404 is an answer to act on, not a transport error.
            .http_status_as_error(false)
            // Bounded: a registry that does not answer is an error, not a hang.
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            // And one that stops sending half-way through a layer: each
            // read waits at most this long (not the whole body: a big layer
            // on a slow line may take an hour, and that is fine).
            .timeout_per_read(Some(READ_TIMEOUT))
            .user_agent(concat!(
                "container-workshop-09-registry/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .new_agent();
        Client {
            agent,
            base,
            repository: reference.repository().to_string(),
            reference: reference.to_string(),
            credentials,
            authorization: Mutex::new(None),
            trace,
        }
    }

    // ANCHOR: get
    /// `GET /v2/REPOSITORY/PATH` (`manifests/latest`, `blobs/sha256:…`),
    /// authenticating on a 401 and asking again, once. Only a 2xx
    /// answer comes back; `what` names the thing in a 404's error.
    pub fn get(&self, path: &str, accept: &str, what: &'static str) -> Result<Response<Body>> {
        let url = self.url(path);
        let mut answer = self.send(&url, accept)?;
        if answer.status() == 401 {
            let challenge = answer
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .and_then(Challenge::parse);
            // No challenge we can meet: as refused.
            let Some(challenge) = challenge else {
                return Err(self.unauthorized());
            };
            self.authorize(&challenge)?;
            answer = self.send(&url, accept)?;
        }
        match answer.status().as_u16() {
            200..=299 => Ok(answer),
            401 | 403 => Err(self.unauthorized()),
            404 => Err(RegistryError::NotFound {
                reference: self.reference.clone(),
                what,
                base: self.base.clone(),
                repository: self.repository.clone(),
            }),
            status => Err(RegistryError::Status {
                message: error_message(answer),
                url,
                status,
            }),
        }
    }
    // ANCHOR_END: get

    /// One request, in the trace, with what authorization we have.
    fn send(&self, url: &str, accept: &str) -> Result<Response<Body>> {
        let authorization = self.authorization.lock().expect("not poisoned").clone();
        let answer = self.trace.call_any(format!("GET {url}"), || {
            let mut request = self.agent.get(url).header("Accept", accept);
            if let Some(value) = &authorization {
                request = request.header("Authorization", value);
            }
            request.call().map(Answer)
        });
        answer
            .map(|a| a.0)
            .map_err(|err| RegistryError::Unreachable {
                url: url.into(),
                reason: err.to_string(),
            })
    }

    // ANCHOR: authorize
    /// Meets a challenge: Basic needs credentials; Bearer gets a token
    /// from the realm (with Basic credentials if we have them).
    fn authorize(&self, challenge: &Challenge) -> Result<()> {
        let value = match challenge {
            Challenge::Basic => match &self.credentials {
                Some(credentials) => credentials.basic(),
                None => return Err(self.unauthorized()),
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                // A challenge to `GET /v2/` names no scope: ours is to pull
                // from this repository (distribution's token scope grammar).
                // The realm is wherever the registry says. Credentials go
                // there (that is the protocol), but never in clear text to
                // another machine: a registry on plain HTTP could name any.
                let uri: Option<ureq::http::Uri> = realm.parse().ok();
                let plain = uri.as_ref().is_none_or(|u| {
                    !u.scheme_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case("https"))
                        && !u.host().is_some_and(is_loopback)
                });
                if self.credentials.is_some() && plain {
                    return Err(RegistryError::PlainRealm(realm.clone()));
                }
                let ours = format!("repository:{}:pull", self.repository);
                let url = token_url(realm, service.as_deref(), scope.as_deref().unwrap_or(&ours));
                let answer = self.trace.call_any(format!("GET {url}"), || {
                    let mut request = self.agent.get(&url);
                    if let Some(credentials) = &self.credentials {
                        request = request.header("Authorization", credentials.basic());
                    }
                    request.call().map(Answer)
                });
                let mut answer = answer
                    .map_err(|err| RegistryError::Unreachable {
                        url: realm.clone(),
                        reason: err.to_string(),
                    })?
                    .0;
                if answer.status() != 200 {
                    return Err(self.unauthorized());
                }
                let token: TokenAnswer =
                    small_json(&mut answer).map_err(|reason| RegistryError::Json {
                        url: realm.clone(),
                        what: "the token server's answer",
                        reason,
                    })?;
                let token = token.token().ok_or_else(|| RegistryError::Json {
                    url: realm.clone(),
                    what: "the token server's answer",
                    reason: "it has no token".into(),
                })?;
                format!("Bearer {token}")
            }
        };
        *self.authorization.lock().expect("not poisoned") = Some(value);
        Ok(())
    }
    // ANCHOR_END: authorize

    /// The URL of `path` in this repository.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}/{path}", self.base, self.repository)
    }

    /// A note in the trace (`# …`).
    pub fn note(&self, text: impl std::fmt::Display) {
        self.trace.note(text);
    }

    /// The 401 error, with the hint that fits.
    fn unauthorized(&self) -> RegistryError {
        let (who, hint) = match &self.credentials {
            Some(_) => (
                "these credentials",
                "check the user name and password (or token) given with --username and --password-stdin",
            ),
            None => (
                "anonymous access",
                "log in: --username NAME --password-stdin (a private repository, or one that \
                 does not exist: registries answer 401 to both, so as not to tell which)",
            ),
        };
        RegistryError::Unauthorized {
            reference: self.reference.clone(),
            who,
            hint,
        }
    }
}

/// A registry's error body: `{"errors":[{"code":…,"message":…}]}`
/// (distribution's spec), shortened to its first message.
fn error_message(mut answer: Response<Body>) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: String,
        #[serde(default)]
        message: String,
    }
    let body: Option<Errors> = small_json(&mut answer).ok();
    match body.and_then(|b| b.errors.into_iter().next()) {
        Some(e) => crate::error::printable(&format!(": {} {}", e.code, e.message)),
        None => String::new(),
    }
}

/// A small JSON body (a token, an error), read whole, at most 1 MiB, in
/// at most [`SMALL_BODY_TIME`].
fn small_json<T: serde::de::DeserializeOwned>(
    answer: &mut Response<Body>,
) -> std::result::Result<T, String> {
    let mut bytes = Vec::new();
    Deadline::new(answer.body_mut().as_reader(), SMALL_BODY_TIME)
        .take(SMALL_BODY)
        .read_to_end(&mut bytes)
        .map_err(|err| err.to_string())?;
    serde_json::from_slice(&bytes).map_err(|err| err.to_string())
}

/// A reader that fails once `limit` has passed since it was made.
pub struct Deadline<R> {
    inner: R,
    until: std::time::Instant,
}

impl<R> Deadline<R> {
    /// `inner`, to be read within `limit`.
    pub fn new(inner: R, limit: Duration) -> Self {
        Deadline {
            inner,
            until: std::time::Instant::now() + limit,
        }
    }
}

impl<R: Read> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if std::time::Instant::now() > self.until {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the answer took too long to arrive",
            ));
        }
        self.inner.read(buf)
    }
}
