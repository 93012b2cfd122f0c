//! Emulated ACS resources: several in one process, each with its own keys, id, phone numbers and
//! state.
//!
//! The flags describe the `default` resource; fixture files add more. A request reaches a
//! resource through its credentials, as with the real service: the access key that signs it
//! (HMAC), the `resourceId` claim of a user access token (Chat), or, for Entra ID bearer tokens,
//! which carry no resource, the host the request addresses: the HTTP/2 `:authority` (or an
//! absolute-form target's), else the `Host` header, falling back to `default`. The
//! authentication in [`crate::http`] puts the chosen [`Resource`] into the request extensions;
//! handlers take it with the `Res` extractor and never look at another resource's state.

use std::sync::{Arc, Mutex, RwLock};

use arc_swap::ArcSwap;

use uuid::Uuid;

use chrono::{DateTime, Utc};

use crate::auth::hmac::{self, HmacError, HmacRequest, KeySlot};
use crate::auth::user_token::{self, TokenError, TokenIssuer, UserToken};
use crate::config::{LimitFlags, Settings};
use crate::domain::{CommunicationUserId, PhoneNumber, ScopeSet};
use crate::store::{ChatLimits, EmailLimits, RoomLimits, Store, StoreLimits, TokenStatus};

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
    /// Custom email domains linked to the resource (lower case): `--email-domain` for `default`,
    /// fixtures for any. Its Azure-managed domain is linked besides ([`Resource::email_domains`]).
    pub custom_email_domains: RwLock<Vec<String>>,
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
        email: EmailLimits {
            max_emails: flags.max_emails,
            max_bytes: flags.max_email_storage_bytes,
        },
        rooms: RoomLimits {
            rooms: flags.max_rooms,
            participants_per_room: flags.max_room_participants,
        },
    }
}

/// `store`, owning the phone numbers the resource is configured with.
pub fn configured_store(store: Store, phone_numbers: &[PhoneNumber]) -> Store {
    store.numbers.set_configured(phone_numbers);
    store
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
            custom_email_domains: RwLock::new(settings.email_domains.clone()),
            tokens: TokenIssuer::with_secret(
                token_secret,
                settings.resource_id,
                &config.resource.resource_location,
            ),
            store: configured_store(
                Store::with_seed_and_limits(seed, store_limits(&config.limits)),
                &settings.phone_numbers,
            ),
        }
    }

    /// Whether the resource owns `number` at `now`: one it was configured with, or one it has
    /// bought and not released (`store::numbers`).
    pub fn owns(&self, number: &PhoneNumber, now: DateTime<Utc>) -> bool {
        self.store.numbers.owns(number, now)
    }

    /// The resource's Azure-managed email domain, `<resource id>.azurecomm.net`.
    pub fn managed_email_domain(&self) -> String {
        crate::domain::managed_domain(self.resource_id)
    }

    /// Every email domain linked to the resource: the Azure-managed one first, then the custom
    /// ones.
    pub fn email_domains(&self) -> Vec<String> {
        let custom = match self.custom_email_domains.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        std::iter::once(self.managed_email_domain())
            .chain(custom)
            .collect()
    }

    /// Whether `domain` (any case) is linked to the resource, so that it may send from it.
    pub fn links_email_domain(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.');
        if crate::domain::is_managed_domain_of(domain, self.resource_id) {
            return true;
        }
        let custom = match self.custom_email_domains.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Custom domains are kept lower-cased.
        custom.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// Links more custom email domains (lower-cased; ones already linked are skipped).
    pub fn link_email_domains(&self, domains: &[String]) {
        let mut guard = match self.custom_email_domains.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        for domain in domains {
            let domain = domain.to_ascii_lowercase();
            if domain != self.managed_email_domain() && !guard.contains(&domain) {
                guard.push(domain);
            }
        }
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
    /// Read on every request without a lock or a reference count (`ArcSwap::load`); replaced
    /// whole when resources are added, one writer at a time (`adding`).
    all: ArcSwap<Vec<Arc<Resource>>>,
    adding: Mutex<()>,
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
            all: ArcSwap::from_pointee(vec![Arc::new(default)]),
            adding: Mutex::new(()),
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
        self.all.load_full()
    }

    /// The `default` resource.
    pub fn default_resource(&self) -> Arc<Resource> {
        self.all.load()[0].clone()
    }

    /// The resource called `name`.
    pub fn by_name(&self, name: &str) -> Option<Arc<Resource>> {
        self.all.load().iter().find(|r| r.name == name).cloned()
    }

    /// The resource whose id is `id` (any case).
    pub fn by_id(&self, id: &str) -> Option<Arc<Resource>> {
        let id = Uuid::parse_str(id).ok()?;
        self.all
            .load()
            .iter()
            .find(|r| r.resource_id == id)
            .cloned()
    }

    /// The resource a `Host` header names (port ignored), or `default`.
    pub fn by_host(&self, host: Option<&str>) -> Arc<Resource> {
        let all = self.all.load();
        if let Some(name) = host.map(host_name)
            && let Some(found) = all.iter().find(|r| r.hosts.contains(&name))
        {
            return found.clone();
        }
        all[0].clone()
    }

    /// The resource whose access key signed `request`, and which of its keys did (see
    /// [`hmac::verify_any`]).
    pub fn by_access_key(
        &self,
        request: &HmacRequest<'_>,
        authorization: Option<&str>,
        now: DateTime<Utc>,
        clock_skew: std::time::Duration,
    ) -> Result<(Arc<Resource>, KeySlot), HmacError> {
        let all = self.all.load();
        let (index, slot) = hmac::verify_any(
            request,
            authorization,
            &all,
            |r| r.access_keys.as_slice(),
            now,
            clock_skew,
        )?;
        Ok((all[index].clone(), slot))
    }

    /// The resource a user access token was issued by, and who the token names: the token's
    /// `resourceId` claim picks the resource (else `default`), whose issuer verifies the token
    /// against `now`; the identity must still have the token's sequence number in force.
    pub fn by_user_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(Arc<Resource>, UserToken), TokenError> {
        let all = self.all.load();
        // With `default` alone there is nothing to pick: its issuer refuses a token for another
        // resource (reading the claim would decode the payload a second time).
        let resource = match all.as_slice() {
            [only] => only.clone(),
            _ => user_token::resource_claim(token)
                .and_then(|id| Uuid::parse_str(&id).ok())
                .and_then(|id| all.iter().find(|r| r.resource_id == id).cloned())
                .unwrap_or_else(|| all[0].clone()),
        };
        let claims = resource.tokens.verify(token, now)?;
        let user =
            CommunicationUserId::from_skype_id(&claims.skypeid).map_err(|_| TokenError::Invalid)?;
        let seq: u64 = claims.jti.parse().map_err(|_| TokenError::Invalid)?;
        match resource.store.identities.token_status(&user, seq) {
            TokenStatus::Valid => {}
            TokenStatus::Revoked => return Err(TokenError::Revoked),
            TokenStatus::IdentityDeleted => return Err(TokenError::IdentityDeleted),
            TokenStatus::UnknownIdentity => return Err(TokenError::UnknownIdentity),
        }
        let scopes = ScopeSet::parse_claim(&claims.acs_scope).ok_or(TokenError::Invalid)?;
        let expires_on = DateTime::from_timestamp(claims.exp, 0).ok_or(TokenError::Invalid)?;
        Ok((
            resource,
            UserToken {
                user,
                scopes,
                expires_on,
            },
        ))
    }

    /// Adds resources, all or none: a name, id or host already in use is refused, and so is
    /// going past [`Resources::max`].
    pub fn add(&self, new: Vec<Resource>) -> Result<(), String> {
        let _adding = match self.adding.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let current = self.all.load_full();
        if current.len() + new.len() > self.max {
            return Err(too_many(self.max));
        }
        let mut next: Vec<Arc<Resource>> = current.as_ref().clone();
        for resource in new {
            conflict(&next, &resource)?;
            next.push(Arc::new(resource));
        }
        self.all.store(Arc::new(next));
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
