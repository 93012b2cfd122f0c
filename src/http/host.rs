//! Which host a request addresses (resource routing for Entra ID tokens, links the emulator hands
//! out), and the check that a `Host` header agrees with the request's authority.

use actix_web::http::Uri;
use actix_web::http::header::{self, HeaderMap};

use crate::resource::host_name;

/// The host a request addresses: the URI's authority when it has one (HTTP/2 `:authority`, an
/// HTTP/1.1 absolute-form target), else the `Host` header; `None` when neither is there.
pub fn request_host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    uri.authority()
        .map(|a| a.as_str())
        .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()))
}

/// Whether a `Host` header disagrees with the URI's authority (RFC 9113 §8.3.1: such a request
/// is malformed): a different host name, or a different port (a missing port is the scheme's
/// default). Nothing to compare (one of them absent) is no disagreement.
pub fn host_disagrees(uri: &Uri, headers: &HeaderMap, secure: bool) -> Option<(String, String)> {
    let authority = uri.authority()?;
    let host = headers.get(header::HOST)?;
    let host = String::from_utf8_lossy(host.as_bytes()).into_owned();
    let default_port = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => 80,
        Some(_) => 443,
        None if secure => 443,
        None => 80,
    };
    let port_of = |value: &str| -> Option<u16> {
        let value = value.trim();
        let after_host = if value.starts_with('[') {
            value.split_once(']').map_or("", |(_, rest)| rest)
        } else {
            value.rsplit_once(':').map_or("", |(_, port)| port)
        };
        let port = after_host.trim_start_matches(':');
        if port.is_empty() {
            Some(default_port)
        } else {
            port.parse().ok()
        }
    };
    let same = host_name(authority.as_str()) == host_name(&host)
        && port_of(authority.as_str()) == port_of(&host)
        && port_of(&host).is_some();
    (!same).then(|| (host, authority.as_str().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_header_must_name_the_authority() {
        use actix_web::http::header::{HOST, HeaderMap, HeaderValue};
        let check = |uri: &str, host: Option<&str>| {
            let uri: actix_web::http::Uri = uri.parse().expect("uri");
            let mut headers = HeaderMap::new();
            if let Some(host) = host {
                headers.insert(HOST, HeaderValue::from_str(host).expect("value"));
            }
            host_disagrees(&uri, &headers, true).is_none()
        };
        assert!(check("https://contoso.localhost:8443/x", None));
        assert!(check("/x", Some("anything")));
        assert!(check(
            "https://contoso.localhost:8443/x",
            Some("Contoso.LOCALHOST:8443")
        ));
        assert!(check("https://localhost/x", Some("localhost:443")));
        assert!(check("https://[::1]:8443/x", Some("[::1]:8443")));
        assert!(!check(
            "https://localhost:8443/x",
            Some("contoso.localhost:8443")
        ));
        assert!(!check("https://localhost:8443/x", Some("localhost:9443")));
        assert!(!check("https://localhost:8443/x", Some("localhost")));
        assert!(!check("https://localhost:8443/x", Some("localhost:x")));
    }
}
