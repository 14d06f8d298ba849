//! Binding an authorization flow to the browser that starts it.
//!
//! The state alone proves that a callback belongs to *a* flow, not that it
//! arrives in the browser that started it: an authorization response that
//! leaks (a shared link, a log) can be finished from anywhere. A protected
//! flow's authorization URL is therefore handed out by grantd's bounce
//! endpoint (`{redirect URI}/start#flow=…`), which sets a random cookie on
//! the browser, stores the cookie's hash on the flow (once: the first
//! browser wins) and redirects to the provider; the callback then wants that
//! cookie. The bounce has to be a top-level navigation on grantd's own
//! origin so that the cookie is first-party even when the connect page is
//! framed.
//!
//! The state travels in the bounce URL's fragment, which browsers never
//! send: a small page reads it, takes it out of the address bar and posts it
//! to the same path, so that no access log of grantd or of a proxy in front
//! of it holds a state that could bind the flow to another browser.
//!
//! The bounce lives under the redirect URI's path and the cookie is scoped
//! to that path: the browser sends it to the bounce (a closed popup opened
//! again) and to the callback, to nothing else of grantd, and under
//! whatever path prefix the public URL has.

use crate::domain::error::{DomainError, DomainResult};
use crate::domain::handle::Grantd;
use crate::domain::oauth::authorize::state_hash;
use crate::domain::oauth::connect::authorize_url_aad;
use crate::secrets::{random_token, sha256_hex, Sealed, SecretString};
use crate::storage::{now_millis, BoundFlow};
use subtle::ConstantTimeEq;

/// Prefix of the per-flow CSRF cookie.
pub const CSRF_COOKIE_PREFIX: &str = "grantd_csrf_";

/// Last segment of the bounce endpoint's path, under the redirect URI.
pub const BOUNCE_SEGMENT: &str = "start";

/// The cookie of one flow. It is named after the flow (a prefix of its state
/// hash, which reveals nothing of the state) so that two flows running at
/// once in one browser, in two tabs, do not overwrite each other's cookie.
pub fn csrf_cookie_name(state: &str) -> String {
    format!("{CSRF_COOKIE_PREFIX}{}", &state_hash(state)[..16])
}

/// Where the CSRF cookie may go.
#[derive(Debug, Clone)]
pub struct CsrfCookieScope {
    /// The redirect URI's path (`/callbacks/v1/oauth`, or under the public
    /// URL's prefix): the callback and the bounce beneath it.
    pub path: String,
    /// Set `Secure` on the cookie: grantd's public URL is https.
    pub secure: bool,
}

/// What the bounce endpoint sends the browser: a cookie and a redirect.
/// No `Debug`: it carries the cookie and the state in clear.
pub struct Bounce {
    pub cookie_name: String,
    pub cookie_value: SecretString,
    /// Seconds until the flow expires; the cookie lives as long.
    pub max_age_secs: i64,
    pub scope: CsrfCookieScope,
    /// The provider's authorization URL.
    pub authorization_url: String,
}

/// Whether a cookie is the one whose hash a flow was bound to, compared in
/// constant time. A protected flow never bound (no bounce) matches nothing.
pub(in crate::domain) fn csrf_matches(
    expected_hash: Option<&str>,
    cookie: Option<&SecretString>,
) -> bool {
    match (expected_hash, cookie) {
        (Some(expected), Some(cookie)) if !cookie.is_empty() => {
            let actual = sha256_hex(cookie.expose().as_bytes());
            expected.as_bytes().ct_eq(actual.as_bytes()).into()
        }
        _ => false,
    }
}

impl Grantd {
    /// `{redirect_uri}/start#flow={state}`: where a protected flow begins.
    /// The state is in the fragment, so no request line ever carries it.
    pub(crate) fn bounce_url(&self, state: &str) -> String {
        let mut url = self.settings().redirect_uri.clone();
        url.set_path(&format!("{}/{BOUNCE_SEGMENT}", url.path()));
        url.set_query(None);
        let fragment = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("flow", state)
            .finish();
        url.set_fragment(Some(&fragment));
        url.into()
    }

    /// The path and the `Secure` flag of every flow's CSRF cookie.
    pub fn csrf_cookie_scope(&self) -> CsrfCookieScope {
        let settings = self.settings();
        CsrfCookieScope {
            path: settings.redirect_uri.path().to_owned(),
            secure: settings.public_url.scheme() == "https",
        }
    }

    /// Binds a protected flow to the asking browser and returns what to send
    /// it. The browser that bound the flow may come back (a popup it closed
    /// and re-opened) with the flow's cookie and gets the same redirect.
    /// `None` when the flow is unknown, unprotected, bound to another
    /// browser, consumed or expired: deliberately not told apart.
    pub async fn bounce_oauth_flow(
        &self,
        state: Option<&str>,
        cookie: Option<&SecretString>,
    ) -> DomainResult<Option<Bounce>> {
        let Some(state) = state.filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let hash = state_hash(state);
        let now = now_millis();
        if let Some(cookie) = cookie.filter(|c| !c.is_empty()) {
            if let Some(bound) = self.store().find_bound_oauth_flow(&hash, now).await? {
                if !csrf_matches(bound.csrf_hash.as_deref(), Some(cookie)) {
                    return Ok(None);
                }
                return self.bounce(state, bound, cookie.clone(), now).map(Some);
            }
        }
        let cookie = SecretString::new(random_token());
        let cookie_hash = sha256_hex(cookie.expose().as_bytes());
        match self
            .store()
            .bind_oauth_flow_csrf(&hash, &cookie_hash, now)
            .await?
        {
            Some(bound) => self.bounce(state, bound, cookie, now).map(Some),
            None => Ok(None),
        }
    }

    fn bounce(
        &self,
        state: &str,
        bound: BoundFlow,
        cookie: SecretString,
        now: i64,
    ) -> DomainResult<Bounce> {
        let (Some(key_id), Some(bytes)) =
            (bound.authorize_url_key_id, bound.authorize_url_ciphertext)
        else {
            return Err(DomainError::Invariant(
                "a protected flow has no sealed authorization URL",
            ));
        };
        let url = self.cipher().open(
            &Sealed { key_id, bytes },
            &authorize_url_aad(&bound.state_hash),
        )?;
        let authorization_url =
            String::from_utf8(url).map_err(|source| DomainError::SecretNotText {
                what: "authorization URL",
                source,
            })?;
        Ok(Bounce {
            cookie_name: csrf_cookie_name(state),
            cookie_value: cookie,
            max_age_secs: ((bound.expire_time - now) / 1000).max(1),
            scope: self.csrf_cookie_scope(),
            authorization_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bound_cookie_matches() {
        let cookie = SecretString::new("cookie-value");
        let hash = sha256_hex(b"cookie-value");
        assert!(csrf_matches(Some(&hash), Some(&cookie)));
        assert!(!csrf_matches(
            Some(&hash),
            Some(&SecretString::new("other"))
        ));
        assert!(!csrf_matches(Some(&hash), None));
        assert!(!csrf_matches(None, Some(&cookie)), "never bounced");
        assert!(!csrf_matches(Some(&hash), Some(&SecretString::new(""))));
    }

    #[test]
    fn cookie_names_differ_per_flow_and_hide_the_state() {
        let a = csrf_cookie_name("state-a");
        let b = csrf_cookie_name("state-b");
        assert_ne!(a, b);
        assert!(a.starts_with(CSRF_COOKIE_PREFIX));
        assert!(!a.contains("state-a"));
    }
}
