//! Emulated ACS resources: several in one process, each with its own keys, id, phone numbers and
//! state.
//!
//! The flags describe the `default` resource; fixture files add more. A request reaches a
//! resource through its credentials, as with the real service: the access key that signs it
//! (HMAC), the `resourceId` claim of a user access token (Chat), or, for Entra ID bearer tokens,
//! which carry no resource, the host the request addresses: the HTTP/2 `:authority` (or an
//! absolute-form target's), else the `Host` header, falling back to `default`. The auth
//! middlewares put the chosen [`Resource`] into the request extensions; handlers take it with
//! the [`Res`] extractor and never look at another resource's state.

use std::future::{Ready, ready};
use std::ops::Deref;
use std::sync::{Arc, RwLock};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use uuid::Uuid;

use crate::auth::user_token::TokenIssuer;
use crate::config::{LimitFlags, Settings};
use crate::domain::PhoneNumber;
use crate::error::ApiError;
use crate::store::{ChatLimits, Store, StoreLimits};

/// The name of the resource the command-line flags describe.
pub const DEFAULT_RESOURCE: &str = "default";

/// One emulated Communication Services resource.
pub struct Resource {
    /// A short name used by fixtures, scenario rules and the control API.
    pub name: String,
    /// Lower-case host names (no port) that route Entra ID requests here.
    pub hosts: Vec<String>,
    /// Decoded HMAC secrets: the primary key first, then the secondary.
    pub access_keys: Vec<Vec<u8>>,
    /// The primary key as given (base64), for connection strings.
    pub access_key_b64: String,
    /// The immutable resource id.
    pub resource_id: Uuid,
    /// The data location (`resourceLocation` claim).
    pub location: String,
    /// The phone numbers the resource owns (SMS senders).
    pub phone_numbers: Vec<PhoneNumber>,
    /// Entra ID client ids allowed to call this resource; `None` allows every client the built-in
    /// authority trusts.
    pub entra_clients: Option<Vec<String>>,
    /// Mints and verifies this resource's user access tokens (the signing secret is shared by
    /// every resource of the process; the `resourceId` claim tells them apart).
    pub tokens: TokenIssuer,
    /// This resource's state.
    pub store: Store,
}

/// The caps every resource's store is built with: the `--max-*` flags other than
/// `--max-sms-outbox`, which is passed to each write. (The flags are plain numbers in `config`;
/// the store's limits type is the store's.)
fn store_limits(flags: &LimitFlags) -> StoreLimits {
    StoreLimits {
        identities: flags.max_identities,
        chat: ChatLimits {
            threads: flags.max_chat_threads,
            messages: flags.max_chat_messages,
            messages_per_thread: flags.max_chat_messages_per_thread,
            participants_per_thread: flags.max_chat_participants_per_thread,
        },
        sms_opt_outs: flags.max_sms_opt_outs,
        teams_extension_assignments: flags.max_teams_extension_assignments,
    }
}

impl Resource {
    /// The `default` resource, from the command-line flags.
    pub fn from_settings(settings: &Settings, token_secret: &[u8], seed: Option<u64>) -> Self {
        let config = &settings.config;
        Self {
            name: DEFAULT_RESOURCE.to_string(),
            hosts: Vec::new(),
            access_keys: settings.access_keys.clone(),
            access_key_b64: config.resource.access_key.clone(),
            resource_id: settings.resource_id,
            location: config.resource.resource_location.clone(),
            phone_numbers: settings.phone_numbers.clone(),
            entra_clients: None,
            tokens: TokenIssuer::with_secret(
                token_secret,
                settings.resource_id,
                &config.resource.resource_location,
            ),
            store: Store::with_seed_and_limits(seed, store_limits(&config.limits)),
        }
    }

    /// Whether `number` is one of this resource's phone numbers.
    pub fn owns(&self, number: &PhoneNumber) -> bool {
        self.phone_numbers.contains(number)
    }

    /// Whether the Entra ID client `app_id` may call this resource.
    pub fn allows_entra_client(&self, app_id: &str) -> bool {
        self.entra_clients
            .as_ref()
            .is_none_or(|clients| clients.iter().any(|c| c.eq_ignore_ascii_case(app_id)))
    }
}

/// Every resource of the process; the first is `default`.
pub struct Resources {
    all: RwLock<Arc<Vec<Arc<Resource>>>>,
    max: usize,
    reserved_hosts: Vec<String>,
}

/// The host names no fixture resource may claim: they address `default` (the loopback names
/// the certificate always has, and the address the listeners bind to when it is a specific
/// one).
pub fn default_hosts(bind: std::net::IpAddr) -> Vec<String> {
    let mut hosts = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "[::1]".to_string(),
        "::1".to_string(),
    ];
    if !bind.is_unspecified() && !bind.is_loopback() {
        hosts.push(match bind {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        });
    }
    hosts
}

impl Resources {
    /// A set holding only `default`, with room for `max` resources in all (`default`
    /// included); `reserved_hosts` address `default` and no other resource may claim them.
    pub fn new(default: Resource, max: usize, reserved_hosts: Vec<String>) -> Self {
        Self {
            all: RwLock::new(Arc::new(vec![Arc::new(default)])),
            max,
            reserved_hosts,
        }
    }

    /// The most resources there may be (`--max-resources`).
    pub fn max(&self) -> usize {
        self.max
    }

    /// Why `resource` cannot join the running ones, if it cannot: a name, id, access key or host
    /// name another resource has, or a host name that addresses `default`.
    pub fn conflict(&self, resource: &Resource) -> Result<(), String> {
        if let Some(host) = resource
            .hosts
            .iter()
            .find(|h| self.reserved_hosts.contains(h))
        {
            return Err(format!(
                "resource '{}' claims the host name {host}, which addresses the default resource",
                resource.name
            ));
        }
        let all = self.all();
        if all.iter().any(|r| r.name == resource.name) {
            return Err(format!(
                "a resource named '{}' is already loaded",
                resource.name
            ));
        }
        conflict(&all, resource)
    }

    /// A snapshot of every resource, `default` first.
    pub fn all(&self) -> Arc<Vec<Arc<Resource>>> {
        match self.all.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The `default` resource.
    pub fn default_resource(&self) -> Arc<Resource> {
        self.all()[0].clone()
    }

    /// The resource called `name`.
    pub fn by_name(&self, name: &str) -> Option<Arc<Resource>> {
        self.all().iter().find(|r| r.name == name).cloned()
    }

    /// The resource whose id is `id` (any case).
    pub fn by_id(&self, id: &str) -> Option<Arc<Resource>> {
        let id = Uuid::parse_str(id).ok()?;
        self.all().iter().find(|r| r.resource_id == id).cloned()
    }

    /// The resource a `Host` header names (port ignored), or `default`.
    pub fn by_host(&self, host: Option<&str>) -> Arc<Resource> {
        let all = self.all();
        if let Some(name) = host.map(host_name)
            && let Some(found) = all.iter().find(|r| r.hosts.contains(&name))
        {
            return found.clone();
        }
        all[0].clone()
    }

    /// Adds resources, all or none: a name, id or host already in use is refused, and so is
    /// going past [`Resources::max`].
    pub fn add(&self, new: Vec<Resource>) -> Result<(), String> {
        let mut guard = match self.all.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.len() + new.len() > self.max {
            return Err(too_many(self.max));
        }
        let mut next: Vec<Arc<Resource>> = guard.as_ref().clone();
        for resource in new {
            conflict(&next, &resource)?;
            next.push(Arc::new(resource));
        }
        *guard = Arc::new(next);
        Ok(())
    }
}

/// The refusal of a resource past `--max-resources`.
pub fn too_many(max: usize) -> String {
    format!("the emulator holds its limit of {max} resources, default included (--max-resources)")
}

/// Why `resource` cannot join `existing`, if it cannot.
pub fn conflict(existing: &[Arc<Resource>], resource: &Resource) -> Result<(), String> {
    for other in existing {
        if other.name == resource.name {
            return Err(format!("resource '{}' is declared twice", resource.name));
        }
        if other.resource_id == resource.resource_id {
            return Err(format!(
                "resource '{}' has the id {} of resource '{}'",
                resource.name, resource.resource_id, other.name
            ));
        }
        if let Some(host) = resource.hosts.iter().find(|h| other.hosts.contains(h)) {
            return Err(format!(
                "resource '{}' has the host name {host} of resource '{}'",
                resource.name, other.name
            ));
        }
        if resource
            .access_keys
            .iter()
            .any(|k| other.access_keys.contains(k))
        {
            return Err(format!(
                "resource '{}' has an access key of resource '{}' (requests could not be routed)",
                resource.name, other.name
            ));
        }
    }
    Ok(())
}

/// `host[:port]` → lower-case host (IPv6 brackets kept).
pub fn host_name(host: &str) -> String {
    let host = host.trim();
    let without_port = if host.starts_with('[') {
        host.split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1])
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

/// The host a request addresses: the URI's authority when it has one (HTTP/2 `:authority`, an
/// HTTP/1.1 absolute-form target), else the `Host` header; `None` when neither is there.
pub fn request_host<'a>(
    uri: &'a actix_web::http::Uri,
    headers: &'a actix_web::http::header::HeaderMap,
) -> Option<&'a str> {
    uri.authority().map(|a| a.as_str()).or_else(|| {
        headers
            .get(actix_web::http::header::HOST)
            .and_then(|h| h.to_str().ok())
    })
}

/// Whether a `Host` header disagrees with the URI's authority (RFC 9113 §8.3.1: such a request
/// is malformed): a different host name, or a different port (a missing port is the scheme's
/// default). Nothing to compare (one of them absent) is no disagreement.
pub fn host_disagrees(
    uri: &actix_web::http::Uri,
    headers: &actix_web::http::header::HeaderMap,
    secure: bool,
) -> Option<(String, String)> {
    let authority = uri.authority()?;
    let host = headers.get(actix_web::http::header::HOST)?;
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

/// The resource a request was routed to, as an extractor (set by the auth middlewares).
#[derive(Clone)]
pub struct Res(pub Arc<Resource>);

impl Deref for Res {
    type Target = Resource;
    fn deref(&self) -> &Resource {
        &self.0
    }
}

impl FromRequest for Res {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Res>()
                .cloned()
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no resource was routed"))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port_and_case() {
        assert_eq!(host_name("Contoso.LOCALHOST:8443"), "contoso.localhost");
        assert_eq!(host_name("localhost"), "localhost");
        assert_eq!(host_name("[::1]:8443"), "[::1]");
        assert_eq!(host_name("example.com."), "example.com");
    }

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
