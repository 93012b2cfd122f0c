//! Emulated ACS resources: several in one process, each with its own keys, id, phone numbers and
//! state.
//!
//! The flags describe the `default` resource; fixture files add more. A request reaches a
//! resource through its credentials, as with the real service: the access key that signs it
//! (HMAC), the `resourceId` claim of a user access token (Chat), or, for Entra ID bearer tokens,
//! which carry no resource, the `Host` header (falling back to `default`). The auth middlewares put
//! the chosen [`Resource`] into the request extensions; handlers take it with the [`Res`]
//! extractor and never look at another resource's state.

use std::future::{Ready, ready};
use std::ops::Deref;
use std::sync::{Arc, RwLock};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use uuid::Uuid;

use crate::auth::user_token::TokenIssuer;
use crate::config::Settings;
use crate::domain::PhoneNumber;
use crate::error::ApiError;
use crate::store::Store;

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

impl Resource {
    /// The `default` resource, from the command-line flags.
    pub fn from_settings(settings: &Settings, token_secret: &[u8], seed: Option<u64>) -> Self {
        let config = &settings.config;
        Self {
            name: DEFAULT_RESOURCE.to_string(),
            hosts: Vec::new(),
            access_keys: settings.access_keys.clone(),
            access_key_b64: config.access_key.clone(),
            resource_id: settings.resource_id,
            location: config.resource_location.clone(),
            phone_numbers: settings.phone_numbers.clone(),
            entra_clients: None,
            tokens: TokenIssuer::with_secret(
                token_secret,
                settings.resource_id,
                &config.resource_location,
            ),
            store: Store::with_seed(seed),
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
}

impl Resources {
    /// A set holding only `default`.
    pub fn new(default: Resource) -> Self {
        Self {
            all: RwLock::new(Arc::new(vec![Arc::new(default)])),
        }
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

    /// Adds resources, all or none: a name, id or host already in use is refused.
    pub fn add(&self, new: Vec<Resource>) -> Result<(), String> {
        let mut guard = match self.all.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next: Vec<Arc<Resource>> = guard.as_ref().clone();
        for resource in new {
            conflict(&next, &resource)?;
            next.push(Arc::new(resource));
        }
        *guard = Arc::new(next);
        Ok(())
    }
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
}
