//! `AUTH` for the SMTP relay: the username names a resource, an Entra application and its tenant,
//! the password is the application's client secret (as the real service's SMTP authentication).
//!
//! Usernames: `<resource>.<client id>.<tenant id>` or `<resource>|<client id>|<tenant id>`, where
//! `<resource>` is a resource's name in the emulator (`default`, a fixture's resource) or, for
//! the default resource, its ARM name (`--resource-name`, `acs-emulator` by default). The client
//! must be an `--entra-client` whose secret is the password, allowed on that resource, and the
//! tenant `--entra-tenant`.

use std::sync::Arc;

use uuid::Uuid;

use crate::resource::{DEFAULT_RESOURCE, Resource};
use crate::state::AppState;

/// Who logged in.
#[derive(Clone)]
pub struct Login {
    /// The resource the username names.
    pub resource: Arc<Resource>,
    /// The Entra application (client id, lower case).
    pub app_id: String,
}

/// The username's parts: (resource, client id, tenant id), or `None` when it has neither form.
pub fn parse_username(username: &str) -> Option<(&str, &str, &str)> {
    let username = username.trim();
    let mut parts: Vec<&str> = if username.contains('|') {
        username.split('|').collect()
    } else {
        // Client and tenant ids are GUIDs (no dots); the resource name is what is left.
        let mut parts: Vec<&str> = username.rsplitn(3, '.').collect();
        parts.reverse();
        parts
    };
    if parts.len() != 3 || parts.iter().any(|p| p.trim().is_empty()) {
        return None;
    }
    let tenant = parts.pop()?;
    let app = parts.pop()?;
    let resource = parts.pop()?;
    Some((resource.trim(), app.trim(), tenant.trim()))
}

/// Checks `username` and `password` (see the module docs); `Err` says why, for the log only (the
/// client gets one answer for every failure).
pub fn check(state: &AppState, username: &str, password: &str) -> Result<Login, &'static str> {
    let (resource, app, tenant) =
        parse_username(username).ok_or("the username is not <resource>.<client id>.<tenant id>")?;
    let tenant = Uuid::parse_str(tenant).map_err(|_| "the tenant id is not a GUID")?;
    if tenant != state.settings.entra_tenant {
        return Err("the tenant id is not the emulator's --entra-tenant");
    }
    let arm_name = &state.settings.config.resource.resource_name;
    let resource = state
        .resources
        .all()
        .iter()
        .find(|r| {
            r.name.eq_ignore_ascii_case(resource)
                || (r.name == DEFAULT_RESOURCE && arm_name.eq_ignore_ascii_case(resource))
        })
        .cloned()
        .ok_or("no resource has that name")?;
    if !state.entra.client_secret_matches(app, password) {
        return Err("no --entra-client has that id and secret");
    }
    if !resource.allows_entra_client(app) {
        return Err("the Entra client is not allowed on that resource");
    }
    Ok(Login {
        resource,
        app_id: app.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_username_forms_parse() {
        let app = "acacacac-0000-4000-8000-00000000000c";
        let tenant = "acacacac-0000-4000-8000-00000000000a";
        assert_eq!(
            parse_username(&format!("acs-emulator.{app}.{tenant}")),
            Some(("acs-emulator", app, tenant))
        );
        assert_eq!(
            parse_username(&format!("my.res|{app}|{tenant}")),
            Some(("my.res", app, tenant))
        );
        for bad in [
            "",
            "a.b",
            "a|b",
            "..",
            "a||b",
            "|a|b",
            "a|b|c|d",
            "user@example.com",
        ] {
            assert_eq!(parse_username(bad), None, "{bad}");
        }
    }
}
