//! Cross-site request forgery: the session cookie is `SameSite=Strict`, and a write (anything
//! but GET, HEAD, OPTIONS) that a browser says comes from another site is refused before any
//! handler runs. Browsers say so with `Sec-Fetch-Site`, or failing that with an `Origin` whose
//! host is not this one; clients that are not browsers (curl, scripts) send neither.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::Failure;

pub async fn refuse_cross_site_writes(request: Request, next: Next) -> Response {
    let reads = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !reads && is_cross_site(request.headers()) {
        tracing::warn!(path = %request.uri().path(), "cross-site write refused");
        return Failure::new(StatusCode::FORBIDDEN, "跨站请求被拒绝 (cross-site request refused)").into_response();
    }
    next.run(request).await
}

fn is_cross_site(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|value: &header::HeaderValue| value.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match (text(header::ORIGIN.as_str()), text(header::HOST.as_str())) {
        (Some(origin), Some(host)) => origin_host(origin) != Some(host),
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// `host[:port]` of an origin such as `https://example.com:8443`; `null` has none.
fn origin_host(origin: &str) -> Option<&str> {
    origin.split_once("://").map(|(_, host)| host.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (header::HeaderName::from_static(name), value.parse().unwrap())).collect()
    }

    #[test]
    fn only_writes_a_browser_marks_as_cross_site_are_refused() {
        assert!(!is_cross_site(&headers(&[])), "curl");
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "same-origin"), ("origin", "https://evil.test")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])), "a sibling subdomain is not us");
        assert!(!is_cross_site(&headers(&[("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")])));
        assert!(is_cross_site(&headers(&[("origin", "https://evil.test"), ("host", "admin.example.com")])));
        assert!(is_cross_site(&headers(&[("origin", "null"), ("host", "admin.example.com")])));
    }
}
