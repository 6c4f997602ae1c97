//! Who may talk to the console: the token, the host a request is addressed to, cross-site
//! requests, and the headers every response carries.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::{Error, Shared};

/// The cookie a browser holds after `/login`.
pub const SESSION_COOKIE: &str = "softview_console";

/// The console's access rules, fixed at start-up.
pub struct Guard {
    address: SocketAddr,
    token: Option<String>,
    /// Put in every form and checked on every POST: a page of another site cannot read it.
    form_token: String,
}

impl Guard {
    pub fn new(address: SocketAddr, token: Option<String>) -> Result<Self, Error> {
        if !address.ip().is_loopback() && token.is_none() {
            return Err(Error::TokenRequired(address));
        }
        Ok(Self {
            address,
            token,
            form_token: random_hex(),
        })
    }

    pub fn form_token(&self) -> &str {
        &self.form_token
    }

    /// Whether a submitted form carries this process's form token.
    pub fn form_token_matches(&self, submitted: Option<&str>) -> bool {
        submitted.is_some_and(|s| same_bytes(s, &self.form_token))
    }

    pub fn token_matches(&self, presented: &str) -> bool {
        self.token
            .as_deref()
            .is_some_and(|t| same_bytes(presented, t))
    }

    /// On a loopback address, a request must be addressed to a loopback name: a page of
    /// another site that points a name of its own at 127.0.0.1 (DNS rebinding) is refused.
    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        if !self.address.ip().is_loopback() {
            return true;
        }
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let name = host
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host, |(name, _)| name);
        matches!(name, "127.0.0.1" | "localhost" | "[::1]")
    }

    fn authenticated(&self, headers: &HeaderMap) -> bool {
        if self.token.is_none() {
            return true;
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(name, _)| *name == SESSION_COOKIE)
            .map(|(_, value)| value);
        bearer.or(cookie).is_some_and(|t| self.token_matches(t))
    }
}

/// A POST must come from a page of the console itself: browsers send `Origin` (and
/// `Sec-Fetch-Site`) with every cross-site POST, and those must name this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_ok = match headers.get(header::ORIGIN).map(HeaderValue::to_str) {
        None => true,
        Some(Ok(origin)) => host
            .is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}")),
        Some(Err(_)) => false,
    };
    let site_ok = match headers.get("sec-fetch-site").map(HeaderValue::to_str) {
        None => true,
        Some(Ok(site)) => site == "same-origin" || site == "none",
        Some(Err(_)) => false,
    };
    origin_ok && site_ok
}

/// The middleware every request passes.
pub async fn check(State(console): State<Shared>, request: Request, next: Next) -> Response {
    let guard = &console.guard;
    let headers = request.headers();
    let path = request.uri().path();
    let mut response = if !guard.host_allowed(headers) {
        (
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "This console answers requests addressed to {} only.",
                guard.address
            ),
        )
            .into_response()
    } else if request.method() == Method::POST && !same_origin(headers) {
        (
            StatusCode::FORBIDDEN,
            "Refused: this request came from another site. Use the console's own pages.",
        )
            .into_response()
    } else if path == "/login" || path.starts_with("/assets/") || guard.authenticated(headers) {
        next.run(request).await
    } else if request.method() == Method::GET
        && headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
    {
        Redirect::to("/login").into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            "This console needs its token: log in at /login or send Authorization: Bearer <token>.",
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Compares in time that depends on the lengths only.
fn same_bytes(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// 128 random bits from the kernel, as hex.
fn random_hex() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("the kernel's random source can be read");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
