//! The rule engine: which rule (if any) applies to a request, and the scenarios' states.
//!
//! One mutex guards the rules' counters, the scenarios' states and the random generator, so a
//! rule's `times`, its state transition and the next rule's view of the state are atomic under
//! concurrent requests ("429, 429, then success" holds with parallel clients). Matching is a few
//! comparisons per rule; the lock is never held across an `.await`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use super::rules::{Rule, STARTED};
use crate::domain::{ThreadId, address_matches};

/// What the engine knows about a request.
#[derive(Debug, Default)]
pub struct Facts<'a> {
    /// The resource it was routed to.
    pub resource: &'a str,
    /// Its api-version, as sent.
    pub api_version: Option<&'a str>,
    /// Chat: the thread in the path.
    pub thread: Option<ThreadId>,
    /// The acting user (Chat caller, or the identity in an Identity path), raw id.
    pub user: Option<String>,
    /// The JSON body, when it is JSON.
    pub body: Option<&'a serde_json::Value>,
    /// `Sms.Send`, `Email.Send`: the recipients, as rules compare them (E.164 numbers, parsed,
    /// unparseable ones left out; lower-cased email addresses).
    pub recipients: Vec<String>,
    /// `Sms.Send`, `Email.Send`: the sender (E.164, or an email address).
    pub sender: Option<String>,
}

/// The rule that applies to a request.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The rule.
    pub rule: Arc<Rule>,
    /// `Sms.Send`, `Email.Send`: the recipients it applies to (`None`: all of them).
    pub recipients: Option<Vec<String>>,
}

struct Entry {
    rule: Arc<Rule>,
    /// Declaration order, to break priority ties.
    order: usize,
    applied: u64,
}

struct Inner {
    /// Sorted by priority (high first), then declaration order.
    rules: Vec<Entry>,
    states: BTreeMap<String, String>,
    rng: ChaCha8Rng,
    next_order: usize,
}

/// The rules of every loaded fixture and their scenarios' states.
pub struct Engine {
    seed: Option<u64>,
    any: AtomicBool,
    inner: Mutex<Inner>,
}

/// A rule as the control API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleView {
    /// Name.
    pub name: String,
    /// Its scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Required state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when_state: Option<String>,
    /// State it moves to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_state: Option<String>,
    /// Priority.
    pub priority: i32,
    /// First N matches only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Probability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Match.
    #[serde(rename = "match")]
    pub matcher: super::rules::Matcher,
    /// Action.
    pub action: super::rules::Action,
    /// Expected applications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<super::rules::Expect>,
    /// How many times it applied since the last reset.
    pub applied: u64,
}

/// A rule whose expectation is not met.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unmet {
    /// The rule.
    pub rule: String,
    /// What was expected.
    pub expected: super::rules::Expect,
    /// How many times it applied.
    pub applied: u64,
}

impl Engine {
    /// No rules; `seed` makes `probability` reproducible.
    pub fn new(seed: Option<u64>) -> Self {
        Self {
            seed,
            any: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                rules: Vec::new(),
                states: BTreeMap::new(),
                rng: rng(seed),
                next_order: 0,
            }),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether any rule is loaded (the middleware skips all work when none is).
    pub fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Acquire)
    }

    /// Whether any rule covers the operation `op`.
    pub fn covers(&self, op: &str) -> bool {
        !self.is_empty() && self.inner().rules.iter().any(|e| e.rule.matcher.covers(op))
    }

    /// Names already taken, to check a fixture before it is applied.
    pub fn names(&self) -> Vec<String> {
        self.inner()
            .rules
            .iter()
            .map(|e| e.rule.name.clone())
            .collect()
    }

    /// Adds rules (names already checked unique).
    pub fn add(&self, rules: Vec<Rule>) {
        let mut inner = self.inner();
        for rule in rules {
            let order = inner.next_order;
            inner.next_order += 1;
            inner.rules.push(Entry {
                rule: Arc::new(rule),
                order,
                applied: 0,
            });
        }
        inner.rules.sort_by(|a, b| {
            b.rule
                .priority
                .cmp(&a.rule.priority)
                .then(a.order.cmp(&b.order))
        });
        self.any.store(!inner.rules.is_empty(), Ordering::Release);
    }

    /// Removes the rule called `name`; whether there was one.
    pub fn remove(&self, name: &str) -> bool {
        let mut inner = self.inner();
        let before = inner.rules.len();
        inner.rules.retain(|e| e.rule.name != name);
        self.any.store(!inner.rules.is_empty(), Ordering::Release);
        inner.rules.len() != before
    }

    /// Removes every rule.
    pub fn clear(&self) {
        let mut inner = self.inner();
        inner.rules.clear();
        inner.states.clear();
        self.any.store(false, Ordering::Release);
    }

    /// Every scenario back to `Started`, every counter to 0, the random sequence from the start.
    pub fn reset(&self) {
        let mut inner = self.inner();
        inner.states.clear();
        inner.rules.iter_mut().for_each(|e| e.applied = 0);
        inner.rng = rng(self.seed);
    }

    /// One scenario back to `Started` and its rules' counters to 0; false if no rule names it.
    pub fn reset_scenario(&self, scenario: &str) -> bool {
        let mut inner = self.inner();
        let mut known = false;
        for e in inner.rules.iter_mut() {
            if e.rule.scenario.as_deref() == Some(scenario) {
                e.applied = 0;
                known = true;
            }
        }
        inner.states.remove(scenario);
        known
    }

    /// Puts a scenario in `state`; false if no rule names the scenario.
    pub fn set_state(&self, scenario: &str, state: &str) -> bool {
        let mut inner = self.inner();
        let known = inner
            .rules
            .iter()
            .any(|e| e.rule.scenario.as_deref() == Some(scenario));
        if known {
            inner.states.insert(scenario.to_string(), state.to_string());
        }
        known
    }

    /// Every scenario (named by a rule) and its state.
    pub fn scenarios(&self) -> BTreeMap<String, String> {
        let inner = self.inner();
        let mut out = BTreeMap::new();
        for e in &inner.rules {
            if let Some(name) = &e.rule.scenario {
                let state = inner.states.get(name).map_or(STARTED, String::as_str);
                out.insert(name.clone(), state.to_string());
            }
        }
        out
    }

    /// Every rule with its counter, in evaluation order.
    pub fn rules(&self) -> Vec<RuleView> {
        self.inner()
            .rules
            .iter()
            .map(|e| RuleView {
                name: e.rule.name.clone(),
                scenario: e.rule.scenario.clone(),
                when_state: e.rule.when_state.clone(),
                set_state: e.rule.set_state.clone(),
                priority: e.rule.priority,
                times: e.rule.times,
                probability: e.rule.probability,
                matcher: e.rule.matcher.clone(),
                action: e.rule.action.clone(),
                expect: e.rule.expect,
                applied: e.applied,
            })
            .collect()
    }

    /// Rules whose `expect` is not met.
    pub fn unmet(&self) -> Vec<Unmet> {
        self.inner()
            .rules
            .iter()
            .filter_map(|e| {
                let expected = e.rule.expect?;
                (!expected.met_by(e.applied)).then(|| Unmet {
                    rule: e.rule.name.clone(),
                    expected,
                    applied: e.applied,
                })
            })
            .collect()
    }

    /// The rules that apply to a request: the first rule (by priority, then file order) that
    /// matches it, is in its state, has `times` left and wins its `probability` roll. `sms` and
    /// `email` rules combine: after one applies, later ones still apply to the recipients no
    /// earlier one covered (each recipient gets the first outcome that names it). Applying a
    /// rule counts it and moves its scenario.
    pub fn decide(&self, op: &str, facts: &Facts<'_>) -> Vec<Applied> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut inner = self.inner();
        let Inner {
            rules, states, rng, ..
        } = &mut *inner;
        let mut applied: Vec<Applied> = Vec::new();
        let mut covered: Vec<String> = Vec::new();
        for entry in rules.iter_mut() {
            let rule = &entry.rule;
            if !applied.is_empty() && !rule.action.per_recipient() {
                continue;
            }
            let Some(recipients) = matches(rule, op, facts) else {
                continue;
            };
            // Recipients this rule would newly cover (all of them: `None`).
            let recipients = if applied.is_empty() {
                recipients
            } else {
                let candidates = recipients.unwrap_or_else(|| facts.recipients.clone());
                let fresh: Vec<String> = candidates
                    .into_iter()
                    .filter(|r| !covered.contains(r))
                    .collect();
                if fresh.is_empty() {
                    continue;
                }
                Some(fresh)
            };
            if let (Some(scenario), Some(wanted)) = (&rule.scenario, &rule.when_state)
                && states.get(scenario).map_or(STARTED, String::as_str) != wanted
            {
                continue;
            }
            if rule.times.is_some_and(|t| entry.applied >= t) {
                continue;
            }
            if let Some(p) = rule.probability
                && rng.random::<f64>() >= p
            {
                continue;
            }
            entry.applied += 1;
            if let (Some(scenario), Some(next)) = (&rule.scenario, &rule.set_state) {
                states.insert(scenario.clone(), next.clone());
            }
            let per_recipient = rule.action.per_recipient();
            let all = recipients.is_none();
            covered.extend(
                recipients
                    .clone()
                    .unwrap_or_else(|| facts.recipients.clone()),
            );
            applied.push(Applied {
                rule: rule.clone(),
                recipients,
            });
            if !per_recipient || all {
                break;
            }
        }
        applied
    }
}

/// Whether `rule` matches the request; for `Sms.Send` and `Email.Send` rules with `to`, the
/// recipients it names (`Some(list)`), else `Some(None)`. `to` and `from` match numbers exactly
/// and email addresses ignoring case, with `*` wildcards.
fn matches(rule: &Rule, op: &str, facts: &Facts<'_>) -> Option<Option<Vec<String>>> {
    let m = &rule.matcher;
    if !m.covers(op) {
        return None;
    }
    if m.resource.as_deref().is_some_and(|r| r != facts.resource) {
        return None;
    }
    if let Some(version) = &m.api_version
        && !facts
            .api_version
            .is_some_and(|v| v.eq_ignore_ascii_case(version))
    {
        return None;
    }
    if let Some(from) = &m.from
        && facts
            .sender
            .as_ref()
            .is_none_or(|f| !address_matches(from, f))
    {
        return None;
    }
    if let Some(thread) = &m.thread_id
        && (facts.thread.is_none() || ThreadId::parse(thread).ok() != facts.thread)
    {
        return None;
    }
    if let Some(user) = &m.user_id
        && facts.user.as_deref() != Some(user.as_str())
    {
        return None;
    }
    if !m.body.iter().all(|(pointer, expected)| {
        facts
            .body
            .and_then(|b| b.pointer(pointer))
            .is_some_and(|v| v == expected)
    }) {
        return None;
    }
    if m.to.is_empty() {
        return Some(None);
    }
    let hit: Vec<String> = facts
        .recipients
        .iter()
        .filter(|to| m.to.iter().any(|t| address_matches(t, to)))
        .cloned()
        .collect();
    (!hit.is_empty()).then_some(Some(hit))
}

fn rng(seed: Option<u64>) -> ChaCha8Rng {
    match seed {
        Some(seed) => ChaCha8Rng::seed_from_u64(seed),
        None => {
            let mut bytes = [0u8; 8];
            // Without the OS generator, a fixed seed is still a usable generator.
            let _ = getrandom::fill(&mut bytes);
            ChaCha8Rng::seed_from_u64(u64::from_le_bytes(bytes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operations the tests' rules may name.
    const NAMES: &[&str] = &["Sms.Send", "Chat.SendMessage"];

    fn rules(json: serde_json::Value) -> Vec<Rule> {
        super::super::rules::with_operations(NAMES, || serde_json::from_value(json)).expect("rules")
    }

    fn facts() -> Facts<'static> {
        Facts {
            resource: "default",
            ..Facts::default()
        }
    }

    #[test]
    fn a_state_machine_throttles_twice_then_lets_through() {
        let engine = Engine::new(None);
        engine.add(rules(serde_json::json!([
            {"name": "first", "scenario": "t", "whenState": "Started", "setState": "once",
             "match": {"operation": "Sms.Send"}, "respond": {"status": 429}},
            {"name": "second", "scenario": "t", "whenState": "once", "setState": "done",
             "match": {"operation": "Sms.Send"}, "respond": {"status": 503}},
        ])));
        let names: Vec<Option<String>> = (0..3)
            .map(|_| {
                engine
                    .decide("Sms.Send", &facts())
                    .first()
                    .map(|a| a.rule.name.clone())
            })
            .collect();
        assert_eq!(names, [Some("first".into()), Some("second".into()), None]);
        assert_eq!(engine.scenarios()["t"], "done");
        engine.reset();
        assert_eq!(engine.scenarios()["t"], STARTED);
        assert!(engine.set_state("t", "once"));
        assert_eq!(
            engine
                .decide("Sms.Send", &facts())
                .first()
                .map(|a| a.rule.name.clone()),
            Some("second".into())
        );
        assert!(!engine.set_state("nope", "x"));
    }

    #[test]
    fn times_priority_and_expectations() {
        let engine = Engine::new(None);
        engine.add(rules(serde_json::json!([
            {"name": "low", "match": {"operation": "*"}, "respond": {"status": 500}, "expect": {"min": 1}},
            {"name": "high", "priority": 5, "times": 2, "match": {"operation": "Sms.Send"},
             "respond": {"status": 429}, "expect": {"count": 2}},
        ])));
        let applied: Vec<String> = (0..3)
            .filter_map(|_| engine.decide("Sms.Send", &facts()).pop())
            .map(|a| a.rule.name.clone())
            .collect();
        assert_eq!(applied, ["high", "high", "low"]);
        assert!(engine.unmet().is_empty());
        engine.reset();
        let unmet: Vec<String> = engine.unmet().into_iter().map(|u| u.rule).collect();
        assert_eq!(unmet, ["high", "low"]);
    }

    #[test]
    fn a_seed_makes_probability_reproducible() {
        let run = |seed| {
            let engine = Engine::new(Some(seed));
            engine.add(rules(serde_json::json!([
                {"name": "flaky", "probability": 0.5, "match": {"operation": "Sms.Send"}, "respond": {"status": 503}}
            ])));
            (0..64)
                .map(|_| !engine.decide("Sms.Send", &facts()).is_empty())
                .collect::<Vec<bool>>()
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
        let hits = a.iter().filter(|h| **h).count();
        assert!((10..=54).contains(&hits), "{hits} of 64");
    }

    #[test]
    fn sms_rules_combine_per_recipient_and_others_do_not() {
        let engine = Engine::new(None);
        engine.add(rules(serde_json::json!([
            {"name": "a", "match": {"operation": "Sms.Send", "to": "+14255550101"},
             "sms": {"result": {"status": 503}}},
            {"name": "b", "match": {"operation": "Sms.Send", "to": ["+14255550101", "+14255550102"]},
             "sms": {"deliveryReport": {"status": "Failed"}}},
            {"name": "c", "match": {"operation": "Sms.Send"}, "respond": {"status": 500}},
        ])));
        let to = |n: &str| n.to_string();
        let mut f = facts();
        f.recipients = vec![to("+14255550101"), to("+14255550102"), to("+14255550103")];
        let applied = engine.decide("Sms.Send", &f);
        let got: Vec<(&str, Option<Vec<String>>)> = applied
            .iter()
            .map(|a| (a.rule.name.as_str(), a.recipients.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Some(vec![to("+14255550101")])),
                ("b", Some(vec![to("+14255550102")])),
            ]
        );
        // A recipient no sms rule names gets nothing; "c" never joins sms rules.
        f.recipients = vec![to("+14255550103")];
        let applied = engine.decide("Sms.Send", &f);
        assert_eq!(applied.len(), 1);
        assert_eq!(applied[0].rule.name, "c");
    }

    #[test]
    fn email_rules_match_address_patterns_and_combine_per_recipient() {
        let engine = Engine::new(None);
        engine.add(
            super::super::rules::with_operations(&["Email.Send"], || {
                serde_json::from_value::<Vec<Rule>>(serde_json::json!([
                    {"name": "bounce", "match": {"operation": "Email.Send", "to": "*@bounce.example.com"},
                     "email": {"deliveryReport": {"status": "Bounced"}}},
                    {"name": "slow", "match": {"operation": "Email.Send", "from": "*@slow.example.com"},
                     "email": {"completeAfter": "5s"}},
                ]))
            })
            .expect("rules"),
        );
        let mut f = facts();
        f.recipients = vec!["a@bounce.example.com".into(), "b@example.com".into()];
        f.sender = Some("donotreply@example.com".into());
        let applied = engine.decide("Email.Send", &f);
        assert_eq!(applied.len(), 1);
        assert_eq!(
            applied[0].recipients,
            Some(vec!["a@bounce.example.com".to_string()])
        );
        f.sender = Some("DoNotReply@Slow.Example.com".into());
        let names: Vec<String> = engine
            .decide("Email.Send", &f)
            .iter()
            .map(|a| a.rule.name.clone())
            .collect();
        assert_eq!(names, ["bounce", "slow"]);
    }

    #[test]
    fn request_facts_narrow_the_match() {
        let engine = Engine::new(None);
        engine.add(rules(serde_json::json!([
            {"name": "one-number", "match": {"operation": "Sms.Send", "to": ["+14255550123"], "resource": "default",
              "body": {"/message": "fail me"}},
             "sms": {"result": {"status": 400, "errorMessage": "no"}}}
        ])));
        let body = serde_json::json!({"message": "fail me"});
        let other = serde_json::json!({"message": "fine"});
        let to = |n: &str| n.to_string();
        let mut f = facts();
        f.recipients = vec![to("+14255550199"), to("+14255550123")];
        f.body = Some(&body);
        let applied = engine.decide("Sms.Send", &f);
        assert_eq!(applied[0].recipients, Some(vec![to("+14255550123")]));
        f.body = Some(&other);
        assert!(engine.decide("Sms.Send", &f).is_empty());
        f.body = Some(&body);
        f.recipients = vec![to("+14255550199")];
        assert!(engine.decide("Sms.Send", &f).is_empty());
        f.recipients = vec![to("+14255550123")];
        f.resource = "other";
        assert!(engine.decide("Sms.Send", &f).is_empty());
    }
}
