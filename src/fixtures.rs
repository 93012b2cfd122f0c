//! Fixture files: the world a test suite needs, in one JSON or YAML file.
//!
//! A fixture declares resources, identities, chat threads (with participants and messages), SMS
//! opt-outs, scenario rules and Event Grid subscriptions (schema: `schemas/fixtures.schema.json`). Loading is all or
//! nothing: the file is parsed and every reference checked before anything changes, and any
//! error names the file, the line and the reason. Loaded fixtures are kept, so that a reset
//! (`POST /_emulator/reset`) can put their data back.
//!
//! Identities may give a full raw id, or only a `name`: the id is then derived from the
//! resource id and the name (UUID v5), the same on every run, so tests can know it in advance.

use std::collections::HashSet;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::{CommunicationIdentifier, CommunicationUserId, PhoneNumber, ThreadId};
use crate::events::{EventBus, Subscription, SubscriptionSpec};
use crate::resource::{DEFAULT_RESOURCE, Resource, Resources, conflict};
use crate::scenario::engine::Engine;
use crate::scenario::rules::Rule;
use crate::store::{
    CONTENT_LIMIT_BYTES, DISPLAY_NAME_LIMIT_BYTES, MessageType, NewMessage, NewThread, Participant,
    Store, TOPIC_LIMIT_BYTES,
};

/// The namespace of name-derived identity ids (UUID v5).
const IDENTITY_NAMESPACE: Uuid = Uuid::from_u128(0x6acf_5e1e_0000_4000_8000_0000_0000_0001);

/// A fixture file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Fixture {
    /// Editors' schema reference; ignored.
    #[serde(default, rename = "$schema")]
    pub schema: Option<String>,
    /// What the file is for; ignored.
    #[serde(default)]
    pub description: Option<String>,
    /// Resources besides `default`.
    #[serde(default)]
    pub resources: Vec<ResourceSpec>,
    /// Identities.
    #[serde(default)]
    pub identities: Vec<IdentitySpec>,
    /// Chat threads.
    #[serde(default)]
    pub threads: Vec<ThreadSpec>,
    /// SMS opt-outs.
    #[serde(default)]
    pub opt_outs: Vec<OptOutSpec>,
    /// Scenario rules.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Event Grid subscriptions (webhooks the emulator pushes events to).
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionSpec>,
}

/// An extra resource.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceSpec {
    /// Its name (not `default`, which the flags describe).
    pub name: String,
    /// Endpoint URLs or host names that route Entra ID requests to it.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Primary access key (base64).
    pub access_key: String,
    /// Secondary access key (base64).
    #[serde(default)]
    pub secondary_access_key: Option<String>,
    /// Resource id (default: derived from the name).
    #[serde(default)]
    pub resource_id: Option<Uuid>,
    /// Data location.
    #[serde(default)]
    pub location: Option<String>,
    /// Owned phone numbers.
    #[serde(default)]
    pub phone_numbers: Vec<String>,
    /// Entra ID client ids allowed to call it (default: any the authority trusts).
    #[serde(default)]
    pub entra_clients: Option<Vec<String>>,
}

/// An identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IdentitySpec {
    /// A handle for threads in this file (and the id's source when `id` is absent).
    #[serde(default)]
    pub name: Option<String>,
    /// Full raw id, `8:acs:<resource id>_<uuid>`.
    #[serde(default)]
    pub id: Option<String>,
    /// Its resource (default `default`).
    #[serde(default)]
    pub resource: Option<String>,
}

/// A chat thread.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ThreadSpec {
    /// `19:…@thread.v2` (default: a new id).
    #[serde(default)]
    pub id: Option<String>,
    /// Its resource (default `default`).
    #[serde(default)]
    pub resource: Option<String>,
    /// Topic.
    pub topic: String,
    /// The creator: an identity name or raw id (default: the first participant).
    #[serde(default)]
    pub created_by: Option<String>,
    /// Participants: identity names or raw ids, or `{user, displayName}`.
    pub participants: Vec<ParticipantSpec>,
    /// Messages, oldest first.
    #[serde(default)]
    pub messages: Vec<MessageSpec>,
}

/// A participant.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ParticipantSpec {
    /// A name or raw id.
    User(String),
    /// With a display name.
    Detailed(DetailedParticipantSpec),
}

/// A participant with a display name. A struct of its own so that unknown fields are refused
/// (a struct variant of an untagged enum would silently drop a misspelt `displayname`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DetailedParticipantSpec {
    /// A name or raw id.
    pub user: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MessageSpec {
    /// The sender: an identity name or raw id (a participant).
    pub from: String,
    /// The text.
    pub content: String,
    /// `text` (default) or `html`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Sender display name.
    #[serde(default)]
    pub sender_display_name: Option<String>,
}

/// An opt-out: `to` no longer receives messages from `from`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OptOutSpec {
    /// Its resource (default `default`).
    #[serde(default)]
    pub resource: Option<String>,
    /// The sender (a number the resource owns).
    pub from: String,
    /// The recipient.
    pub to: String,
}

/// Why a fixture did not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct FixtureError {
    /// File name (or `request body`).
    pub source_name: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub reason: String,
    /// What kind of refusal it is.
    pub kind: FixtureErrorKind,
}

/// The kinds of [`FixtureError`] (the control API answers them with different statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FixtureErrorKind {
    /// The fixture itself is wrong (400).
    #[default]
    Invalid,
    /// A resource clashes with a running one: its name, id, access key or a host name (409).
    Conflict,
    /// Its resources would pass `--max-resources` (403).
    LimitReached,
}

/// A fixture checked against the running emulator, ready to apply.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Where it came from.
    pub source_name: String,
    resources: Vec<ResourceSpec>,
    identities: Vec<(String, CommunicationUserId, Option<String>)>,
    threads: Vec<PlannedThread>,
    opt_outs: Vec<(String, PhoneNumber, PhoneNumber)>,
    rules: Vec<Rule>,
    subscriptions: Vec<Subscription>,
}

#[derive(Debug, Clone)]
struct PlannedThread {
    resource: String,
    id: ThreadId,
    topic: String,
    creator: CommunicationUserId,
    participants: Vec<Participant>,
    messages: Vec<(CommunicationUserId, NewMessage)>,
}

impl Loaded {
    /// How many of each thing it declares.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "source": self.source_name,
            "resources": self.resources.len(),
            "identities": self.identities.len(),
            "threads": self.threads.len(),
            "messages": self.threads.iter().map(|t| t.messages.len()).sum::<usize>(),
            "optOuts": self.opt_outs.len(),
            "rules": self.rules.len(),
            "subscriptions": self.subscriptions.len(),
        })
    }

    /// Drops a rule removed at runtime, so that a reset does not bring it back.
    pub fn forget_rule(&mut self, name: &str) {
        self.rules.retain(|r| r.name != name);
    }

    /// The identity names it declares, with their resource and raw id.
    pub fn identities(&self) -> impl Iterator<Item = (&str, &CommunicationUserId, Option<&str>)> {
        self.identities
            .iter()
            .map(|(r, id, name)| (r.as_str(), id, name.as_deref()))
    }
}

/// The deepest nesting of collections a fixture may have (JSON's limit in serde_json, and the
/// YAML deserializer's).
pub const MAX_NESTING: usize = 128;

/// Parses fixture text: JSON, or YAML (which also reads JSON). YAML is first checked for flow
/// collections (`[`, `{`) nested deeper than [`MAX_NESTING`]: the YAML parser reads a whole
/// document before anything checks its depth, and deep flow nesting costs it quadratic time
/// (100,000 levels in 200 KB took about a minute). Parsing is CPU work: call it off the async
/// workers (`web::block`) for untrusted input.
///
/// `operations` are the names scenario rules may match on (the operation table's data-plane
/// operations).
pub fn parse(
    source_name: &str,
    text: &str,
    json: bool,
    operations: &[&'static str],
) -> Result<Fixture, FixtureError> {
    let fail = |line: Option<usize>, reason: String| FixtureError {
        source_name: source_name.to_string(),
        line,
        reason,
        kind: FixtureErrorKind::Invalid,
    };
    if !json && let Err(line) = yaml_flow_depth_within(text, MAX_NESTING) {
        return Err(fail(
            line,
            format!("collections are nested deeper than {MAX_NESTING} levels"),
        ));
    }
    crate::scenario::with_operations(operations, || {
        if json {
            serde_json::from_str(text).map_err(|e| {
                let line = (e.line() > 0).then_some(e.line());
                fail(line, strip_position(&e.to_string()))
            })
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| {
                let line = e.location().map(|l| l.line());
                fail(line, strip_position(&e.to_string()))
            })
        }
    })
}

/// Scans `text` with the YAML parser's own scanner (libyaml's, the one `serde_yaml_ng` parses
/// with, so that no trick of quoting can make the two disagree) and stops at the first flow
/// collection nested deeper than `limit`: `Err` with its 1-based line. Scanning stops there, so
/// the cost is linear. A scanner error ends the check with `Ok`: the parse reports it.
fn yaml_flow_depth_within(text: &str, limit: usize) -> Result<(), Option<usize>> {
    use std::mem::MaybeUninit;
    use unsafe_libyaml as unsafe_y;
    // SAFETY: the parser is initialised before use and deleted exactly once; it reads from
    // `text`, which outlives it; each token is deleted after use, exactly once (the scanner
    // fills it completely on every call, also on failure, when it is YAML_NO_TOKEN).
    unsafe {
        let mut parser = MaybeUninit::<unsafe_y::yaml_parser_t>::uninit();
        if !unsafe_y::yaml_parser_initialize(parser.as_mut_ptr()).ok {
            return Ok(());
        }
        let parser = parser.as_mut_ptr();
        unsafe_y::yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as u64);
        let mut depth = 0usize;
        let mut result = Ok(());
        loop {
            let mut token = MaybeUninit::<unsafe_y::yaml_token_t>::uninit();
            if !unsafe_y::yaml_parser_scan(parser, token.as_mut_ptr()).ok {
                break;
            }
            let token = token.as_mut_ptr();
            let kind = (*token).type_;
            let line = (*token).start_mark.line as usize + 1;
            unsafe_y::yaml_token_delete(token);
            match kind {
                unsafe_y::YAML_FLOW_SEQUENCE_START_TOKEN
                | unsafe_y::YAML_FLOW_MAPPING_START_TOKEN => {
                    depth += 1;
                    if depth > limit {
                        result = Err(Some(line));
                        break;
                    }
                }
                unsafe_y::YAML_FLOW_SEQUENCE_END_TOKEN | unsafe_y::YAML_FLOW_MAPPING_END_TOKEN => {
                    depth = depth.saturating_sub(1);
                }
                unsafe_y::YAML_STREAM_END_TOKEN | unsafe_y::YAML_NO_TOKEN => break,
                _ => {}
            }
        }
        unsafe_y::yaml_parser_delete(parser);
        result
    }
}

/// Drops the parser's own " at line L column C" (the error shows the line once, up front).
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Checks a parsed fixture against the running emulator (its resources and rules), without
/// changing anything. `text` is the source, to point at lines.
pub fn check(
    source_name: &str,
    text: &str,
    fixture: Fixture,
    resources: &Resources,
    engine: &Engine,
    events: &EventBus,
) -> Result<Loaded, FixtureError> {
    let fail = |needle: &str, reason: String| FixtureError {
        source_name: source_name.to_string(),
        line: line_of(text, needle),
        reason,
        kind: FixtureErrorKind::Invalid,
    };

    // Resources: new ones must not clash with those running (409) or with each other, and must
    // fit within --max-resources (403).
    let running = resources.all().len();
    let mut known: Vec<Arc<Resource>> = resources.all().as_ref().clone();
    for spec in &fixture.resources {
        let resource = build_resource(spec, None).map_err(|r| fail(&spec.name, r))?;
        if spec.name == DEFAULT_RESOURCE {
            return Err(fail(
                &spec.name,
                "the resource 'default' is described by the command-line flags; give this one another name".into(),
            ));
        }
        resources.conflict(&resource).map_err(|r| FixtureError {
            kind: FixtureErrorKind::Conflict,
            ..fail(&spec.name, r)
        })?;
        conflict(&known[running..], &resource).map_err(|r| fail(&spec.name, r))?;
        known.push(Arc::new(resource));
    }
    if known.len() > resources.max() {
        return Err(FixtureError {
            kind: FixtureErrorKind::LimitReached,
            ..fail("resources", crate::resource::too_many(resources.max()))
        });
    }
    let resource_id = |name: &Option<String>, needle: &str| {
        let name = name.as_deref().unwrap_or(DEFAULT_RESOURCE);
        known
            .iter()
            .find(|r| r.name == name)
            .map(|r| (r.name.clone(), r.resource_id, r.phone_numbers.clone()))
            .ok_or_else(|| {
                fail(
                    needle,
                    format!("unknown resource '{name}' (declare it under resources)"),
                )
            })
    };

    // Identities.
    let mut identities: Vec<(String, CommunicationUserId, Option<String>)> = Vec::new();
    for spec in &fixture.identities {
        let needle = spec.id.as_deref().or(spec.name.as_deref()).unwrap_or("");
        let (resource, rid, _) = resource_id(&spec.resource, needle)?;
        let id = match (&spec.id, &spec.name) {
            (Some(raw), _) => {
                let id = CommunicationUserId::parse(raw).map_err(|e| fail(raw, e.to_string()))?;
                if id.resource_id() != Some(rid) {
                    return Err(fail(
                        raw,
                        format!(
                            "identity '{raw}' does not belong to resource '{resource}' (its id must start with 8:acs:{rid}_)"
                        ),
                    ));
                }
                id
            }
            (None, Some(name)) => CommunicationUserId::new(
                rid,
                Uuid::new_v5(&IDENTITY_NAMESPACE, format!("{rid}/{name}").as_bytes()),
            ),
            (None, None) => {
                return Err(fail(
                    "identities",
                    "an identity needs a name or an id".into(),
                ));
            }
        };
        if let Some(name) = &spec.name
            && identities
                .iter()
                .any(|(_, _, n)| n.as_deref() == Some(name.as_str()))
        {
            return Err(FixtureError {
                source_name: source_name.to_string(),
                line: nth_line_of(text, name, 2).or_else(|| line_of(text, name)),
                reason: format!("the identity name '{name}' is used twice"),
                kind: FixtureErrorKind::Invalid,
            });
        }
        if identities.iter().any(|(_, other, _)| *other == id) {
            return Err(fail(needle, format!("the identity {id} is declared twice")));
        }
        identities.push((resource, id, spec.name.clone()));
    }
    // More identities than `--max-identities` could never all be stored.
    let cap = resources.default_resource().store.limits().identities;
    let mut per_resource: std::collections::HashMap<&str, usize> = Default::default();
    for (resource, _, _) in &identities {
        *per_resource.entry(resource).or_default() += 1;
    }
    if let Some((resource, _)) = per_resource.iter().find(|(_, n)| **n > cap) {
        return Err(fail(
            "identities",
            format!(
                "resource '{resource}' is given more identities than --max-identities allows ({cap})"
            ),
        ));
    }
    let user = |reference: &str, resource: &str| -> Result<CommunicationUserId, FixtureError> {
        let found = identities.iter().find(|(r, id, name)| {
            r == resource && (name.as_deref() == Some(reference) || id.as_str() == reference)
        });
        match found {
            Some((_, id, _)) => Ok(id.clone()),
            None => Err(fail(
                reference,
                format!(
                    "'{reference}' is not an identity of resource '{resource}' declared in this file"
                ),
            )),
        }
    };

    // Threads.
    let mut threads = Vec::new();
    let mut thread_ids = HashSet::new();
    for spec in &fixture.threads {
        let (resource, _, _) = resource_id(&spec.resource, &spec.topic)?;
        let id = match &spec.id {
            Some(raw) => ThreadId::parse(raw).map_err(|e| fail(raw, e.to_string()))?,
            None => ThreadId::from_uuid(Uuid::new_v5(
                &IDENTITY_NAMESPACE,
                format!("{resource}/thread/{}", threads.len()).as_bytes(),
            )),
        };
        let running = resources
            .by_name(&resource)
            .is_some_and(|r| r.store.chat.contains(&id));
        if !thread_ids.insert((resource.clone(), id.clone())) || running {
            return Err(fail(
                spec.id.as_deref().unwrap_or(&spec.topic),
                format!("the thread {id} already exists"),
            ));
        }
        if spec.participants.is_empty() {
            return Err(fail(&spec.topic, "a thread needs participants".into()));
        }
        // The limits the Chat API applies (README "Limits").
        if spec.topic.len() > TOPIC_LIMIT_BYTES {
            return Err(fail(
                &spec.topic,
                format!("the topic is longer than {TOPIC_LIMIT_BYTES} bytes"),
            ));
        }
        let mut participants = Vec::new();
        for p in &spec.participants {
            let (reference, display_name) = match p {
                ParticipantSpec::User(r) => (r, None),
                ParticipantSpec::Detailed(DetailedParticipantSpec { user, display_name }) => {
                    (user, display_name.clone())
                }
            };
            if let Some(name) = display_name
                .as_ref()
                .filter(|n| n.len() > DISPLAY_NAME_LIMIT_BYTES)
            {
                return Err(fail(
                    name,
                    format!("a displayName is longer than {DISPLAY_NAME_LIMIT_BYTES} bytes"),
                ));
            }
            participants.push(Participant {
                id: CommunicationIdentifier::User(user(reference, &resource)?),
                display_name,
                share_history_time: None,
                metadata: None,
            });
        }
        let creator = match (&spec.created_by, &spec.participants[0]) {
            (Some(r), _) => user(r, &resource)?,
            (
                None,
                ParticipantSpec::User(r)
                | ParticipantSpec::Detailed(DetailedParticipantSpec { user: r, .. }),
            ) => user(r, &resource)?,
        };
        let is_member = |u: &CommunicationUserId| {
            participants
                .iter()
                .any(|p| p.id == CommunicationIdentifier::User(u.clone()))
        };
        if !is_member(&creator) {
            return Err(fail(
                spec.created_by.as_deref().unwrap_or(&spec.topic),
                "createdBy must be one of the participants".into(),
            ));
        }
        let mut messages = Vec::new();
        for m in &spec.messages {
            let sender = user(&m.from, &resource)?;
            if !is_member(&sender) {
                return Err(fail(
                    &m.content,
                    format!("the sender '{}' is not a participant of the thread", m.from),
                ));
            }
            if m.content.len() > CONTENT_LIMIT_BYTES {
                return Err(fail(
                    &m.from,
                    format!("a message's content is longer than {CONTENT_LIMIT_BYTES} bytes"),
                ));
            }
            if let Some(name) = m
                .sender_display_name
                .as_ref()
                .filter(|n| n.len() > DISPLAY_NAME_LIMIT_BYTES)
            {
                return Err(fail(
                    name,
                    format!("a senderDisplayName is longer than {DISPLAY_NAME_LIMIT_BYTES} bytes"),
                ));
            }
            let kind = match m.kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("text") => MessageType::Text,
                Some("html") => MessageType::Html,
                Some(other) => {
                    return Err(fail(
                        &m.content,
                        format!("message type '{other}' must be text or html"),
                    ));
                }
            };
            messages.push((
                sender,
                NewMessage {
                    content: m.content.clone(),
                    kind,
                    sender_display_name: m.sender_display_name.clone(),
                    metadata: None,
                },
            ));
        }
        threads.push(PlannedThread {
            resource,
            id,
            topic: spec.topic.clone(),
            creator,
            participants,
            messages,
        });
    }

    // Opt-outs.
    let mut opt_outs = Vec::new();
    for spec in &fixture.opt_outs {
        let (resource, _, numbers) = resource_id(&spec.resource, &spec.to)?;
        let from = PhoneNumber::parse(&spec.from)
            .map_err(|e| fail(&spec.from, format!("'{}' is not usable: {e}", spec.from)))?;
        if !numbers.contains(&from) {
            return Err(fail(
                &spec.from,
                format!("{from} is not a phone number of resource '{resource}'"),
            ));
        }
        let to = PhoneNumber::parse(&spec.to)
            .map_err(|e| fail(&spec.to, format!("'{}' is not usable: {e}", spec.to)))?;
        opt_outs.push((resource, from, to));
    }

    // Rules: unique names here and among those loaded; resources they name must exist.
    let mut names: HashSet<String> = engine.names().into_iter().collect();
    for rule in &fixture.rules {
        if !names.insert(rule.name.clone()) {
            return Err(FixtureError {
                source_name: source_name.to_string(),
                line: nth_line_of(text, &rule.name, 2).or_else(|| line_of(text, &rule.name)),
                reason: format!("the rule name '{}' is used twice", rule.name),
                kind: FixtureErrorKind::Invalid,
            });
        }
        if let Some(r) = &rule.matcher.resource
            && !known.iter().any(|k| k.name == *r)
        {
            return Err(fail(
                &rule.name,
                format!("rule '{}': unknown resource '{r}'", rule.name),
            ));
        }
    }

    // Event subscriptions: valid, named uniquely, for a known resource.
    let mut taken: HashSet<String> = events
        .subscriptions()
        .into_iter()
        .filter_map(|s| s.subscription.name().map(str::to_string))
        .collect();
    let mut subscriptions = Vec::new();
    for spec in fixture.subscriptions {
        let needle = spec.name.clone().unwrap_or_else(|| spec.endpoint.clone());
        if let Some(r) = &spec.resource
            && !known.iter().any(|k| k.name == *r)
        {
            return Err(fail(
                &needle,
                format!("subscription: unknown resource '{r}'"),
            ));
        }
        if let Some(name) = &spec.name
            && !taken.insert(name.clone())
        {
            return Err(FixtureError {
                source_name: source_name.to_string(),
                line: nth_line_of(text, name, 2).or_else(|| line_of(text, name)),
                reason: format!("the subscription name '{name}' is used twice"),
                kind: FixtureErrorKind::Invalid,
            });
        }
        let subscription = Subscription::from_spec(spec)
            .map_err(|e| fail(&needle, format!("subscription: {e}")))?;
        subscriptions.push(subscription);
    }

    Ok(Loaded {
        source_name: source_name.to_string(),
        subscriptions,
        resources: fixture.resources,
        identities,
        threads,
        opt_outs,
        rules: fixture.rules,
    })
}

/// Builds a resource from its spec (a fresh, empty store).
fn build_resource(spec: &ResourceSpec, seed: Option<u64>) -> Result<Resource, String> {
    let name = spec.name.trim();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "resource name '{}' must be letters, digits, '-' or '_'",
            spec.name
        ));
    }
    let decode = |field: &str, value: &str| {
        let bytes = STANDARD
            .decode(value.trim())
            .map_err(|e| format!("resource '{name}': {field} is not valid base64 ({e})"))?;
        if bytes.is_empty() {
            return Err(format!("resource '{name}': {field} must not be empty"));
        }
        Ok(bytes)
    };
    let mut access_keys = vec![decode("accessKey", &spec.access_key)?];
    if let Some(secondary) = &spec.secondary_access_key {
        access_keys.push(decode("secondaryAccessKey", secondary)?);
    }
    let resource_id = spec.resource_id.unwrap_or_else(|| {
        Uuid::new_v5(&IDENTITY_NAMESPACE, format!("resource/{name}").as_bytes())
    });
    let location = spec
        .location
        .clone()
        .unwrap_or_else(|| "unitedstates".to_string());
    let mut phone_numbers = Vec::new();
    for raw in &spec.phone_numbers {
        let number = PhoneNumber::parse(raw.trim())
            .map_err(|e| format!("resource '{name}': phone number '{raw}' is not usable: {e}"))?;
        if !phone_numbers.contains(&number) {
            phone_numbers.push(number);
        }
    }
    let hosts = spec
        .endpoints
        .iter()
        .map(|e| {
            let without_scheme = e.split_once("://").map_or(e.as_str(), |(_, rest)| rest);
            let authority = without_scheme.split('/').next().unwrap_or("");
            crate::resource::host_name(authority)
        })
        .filter(|h| !h.is_empty())
        .collect();
    Ok(Resource {
        name: name.to_string(),
        hosts,
        access_keys,
        access_key_b64: spec.access_key.trim().to_string(),
        resource_id,
        location: location.clone(),
        phone_numbers,
        entra_clients: spec
            .entra_clients
            .as_ref()
            .map(|c| c.iter().map(|id| id.trim().to_ascii_lowercase()).collect()),
        tokens: crate::auth::user_token::TokenIssuer::with_secret(&[], resource_id, &location),
        store: Store::with_seed(seed),
    })
}

/// Adds a checked fixture's resources and rules to the running emulator, then its data.
pub fn apply(
    loaded: &Loaded,
    resources: &Resources,
    engine: &Engine,
    events: &EventBus,
    token_secret: &[u8],
    seed: Option<u64>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let mut new = Vec::new();
    // Every resource has the caps the flags give (README "Limits").
    let limits = resources.default_resource().store.limits();
    for spec in &loaded.resources {
        let mut resource = build_resource(spec, seed)?;
        resource.store = Store::with_seed_and_limits(seed, limits);
        resource.tokens = crate::auth::user_token::TokenIssuer::with_secret(
            token_secret,
            resource.resource_id,
            &resource.location,
        );
        new.push(resource);
    }
    resources.add(new)?;
    engine.add(loaded.rules.clone());
    for subscription in &loaded.subscriptions {
        // Like rules, they stay through resets.
        events
            .subscribe(subscription.clone())
            .map_err(|e| e.to_string())?;
    }
    seed_data(loaded, resources, None, now);
    Ok(())
}

/// Puts a fixture's identities, threads and opt-outs into the stores (again, after a reset).
pub fn seed_data(loaded: &Loaded, resources: &Resources, only: Option<&str>, now: DateTime<Utc>) {
    let store = |name: &str| {
        if only.is_some_and(|only| only != name) {
            return None;
        }
        resources.by_name(name).map(|r| r.store.clone())
    };
    for (resource, id, _) in &loaded.identities {
        if let Some(store) = store(resource)
            && let Err(e) =
                store
                    .identities
                    .create_within(id.clone(), now, store.limits().identities)
        {
            tracing::warn!(identity = %id, error = %e, "fixture identity not stored");
        }
    }
    for t in &loaded.threads {
        let Some(store) = store(&t.resource) else {
            continue;
        };
        let created = store.chat.create_thread(
            &t.creator,
            NewThread {
                id: Some(t.id.clone()),
                topic: t.topic.clone(),
                participants: t.participants.clone(),
                metadata: None,
                retention_policy: None,
            },
            None,
            now,
        );
        let props = match created {
            Ok((props, _)) => props,
            Err(e) => {
                tracing::warn!(thread = %t.id, error = %e, "fixture thread not stored");
                continue;
            }
        };
        for (sender, message) in &t.messages {
            if let Err(e) = store
                .chat
                .send_message(sender, &props.id, message.clone(), now)
            {
                tracing::warn!(thread = %props.id, error = %e, "fixture message not stored");
            }
        }
    }
    for (resource, from, to) in &loaded.opt_outs {
        if let Some(store) = store(resource)
            && let Err(e) = store.sms.opt_out(from, std::slice::from_ref(to))
        {
            tracing::warn!(error = %e, "fixture opt-out not stored");
        }
    }
}

/// The 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    nth_line_of(text, needle, 1)
}

/// The 1-based line of the `n`th occurrence of `needle` in `text`.
fn nth_line_of(text: &str, needle: &str, n: usize) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    let (offset, _) = text.match_indices(needle).nth(n.saturating_sub(1))?;
    Some(text[..offset].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Operation names rules may use in these tests.
    const OPS: &[&str] = &["Sms.Send", "Chat.SendMessage"];

    #[test]
    fn yaml_errors_point_at_the_line() {
        let text = "identities:\n  - name: alice\nthreads: []\nrules:\n  - name: x\n    match: {operation: Sms.Sent}\n    respond: {status: 429}\n";
        let err = parse("f.yaml", text, false, OPS).expect_err("bad operation");
        assert!(err.reason.contains("unknown operation 'Sms.Sent'"), "{err}");
        assert!(matches!(err.line, Some(5..=7)), "{err:?}");
        let err = parse("f.yaml", "identities:\n  - nam: alice\n", false, OPS).expect_err("field");
        assert_eq!(err.line, Some(2), "{err:?}");
        assert!(err.reason.contains("unknown field `nam`"), "{err}");
        assert!(err.to_string().starts_with("f.yaml:2: "), "{err}");
    }

    #[test]
    fn a_misspelt_participant_field_is_refused() {
        let ok = "threads:\n  - topic: t\n    participants:\n      - {user: a, displayName: A}\n";
        let parsed = parse("f.yaml", ok, false, OPS).expect("valid");
        assert!(matches!(
            &parsed.threads[0].participants[0],
            ParticipantSpec::Detailed(DetailedParticipantSpec { display_name: Some(n), .. }) if n == "A"
        ));
        let bad = ok.replace("displayName", "displayname");
        let err = parse("f.yaml", &bad, false, OPS).expect_err("unknown field");
        assert_eq!(err.line, Some(4), "{err:?}");
    }

    #[test]
    fn json_errors_point_at_the_line() {
        let err = parse(
            "f.json",
            "{\n  \"rules\": [\n    {\"name\": 1}\n  ]\n}",
            true,
            OPS,
        )
        .expect_err("bad");
        assert_eq!(err.line, Some(3), "{err:?}");
    }

    #[test]
    fn deep_flow_nesting_is_refused_quickly_with_its_line() {
        let deep = format!(
            "rules:\n  - {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let started = std::time::Instant::now();
        let err = parse("f.yaml", &deep, false, OPS).expect_err("too deep");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.reason.contains("nested deeper than 128"), "{err}");
        // One level per line, and inside quotes that are not quotes to YAML.
        let lines = format!("rules: {}", "[\n".repeat(200));
        assert!(
            parse("f.yaml", &lines, false, OPS)
                .expect_err("deep")
                .reason
                .contains("128")
        );
        let tricky = format!("description: a 'b\nrules: [ 'c' , {}", "[".repeat(200));
        assert!(
            parse("f.yaml", &tricky, false, OPS)
                .expect_err("deep")
                .reason
                .contains("128")
        );
        // Brackets in strings and 128 real levels are fine.
        let quoted = format!("description: \"{}\"\n", "[".repeat(500));
        assert!(parse("f.yaml", &quoted, false, OPS).is_ok());
        let ok = format!("description: {}x{}\n", "[".repeat(120), "]".repeat(120));
        let err = parse("f.yaml", &ok, false, OPS).expect_err("not a string");
        assert!(!err.reason.contains("nested"), "{err}");
    }

    #[test]
    fn lines_are_found() {
        let text = "a\nb: x\nc: x\n";
        assert_eq!(line_of(text, "x"), Some(2));
        assert_eq!(nth_line_of(text, "x", 2), Some(3));
        assert_eq!(line_of(text, "zz"), None);
    }
}
