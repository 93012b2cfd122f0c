//! User access token scopes.

use std::fmt;

/// A scope a user access token can carry (Identity `CommunicationIdentityTokenScope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Full chat access.
    Chat,
    /// Full calling access.
    Voip,
    /// Chat without creating, deleting or updating threads.
    ChatJoin,
    /// `chat.join` that additionally cannot add or remove participants.
    ChatJoinLimited,
    /// Calling without starting calls.
    VoipJoin,
}

impl Scope {
    /// Every scope, in canonical order.
    pub const ALL: [Scope; 5] = [
        Scope::Chat,
        Scope::Voip,
        Scope::ChatJoin,
        Scope::ChatJoinLimited,
        Scope::VoipJoin,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Chat => "chat",
            Scope::Voip => "voip",
            Scope::ChatJoin => "chat.join",
            Scope::ChatJoinLimited => "chat.join.limited",
            Scope::VoipJoin => "voip.join",
        }
    }

    /// Parses a wire name (case-insensitive).
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// The first Identity api-version that knows this scope.
    pub fn since_api_version(self) -> &'static str {
        match self {
            Scope::Chat | Scope::Voip => "2021-03-07",
            Scope::ChatJoin | Scope::ChatJoinLimited | Scope::VoipJoin => "2023-10-01",
        }
    }

    /// A bit in the token's opaque `scp` claim (`chat,voip` gives 1792, as on the real service).
    fn bit(self) -> u32 {
        match self {
            Scope::Chat => 0x100,
            Scope::Voip => 0x600,
            Scope::ChatJoin => 0x080,
            Scope::ChatJoinLimited => 0x040,
            Scope::VoipJoin => 0x020,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, kept in canonical order without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// A set from scopes in any order, with duplicates removed.
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Self {
        let mut v: Vec<Scope> = scopes.into_iter().collect();
        v.sort();
        v.dedup();
        Self(v)
    }

    /// Parses the token's `acsScope` claim (`chat,voip`); unknown names are an error.
    pub fn parse_claim(claim: &str) -> Option<Self> {
        if claim.trim().is_empty() {
            return Some(Self::default());
        }
        claim
            .split(',')
            .map(Scope::parse)
            .collect::<Option<Vec<_>>>()
            .map(Self::new)
    }

    /// The `acsScope` claim.
    pub fn to_claim(&self) -> String {
        self.0
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The `scp` claim.
    pub fn scp(&self) -> u32 {
        self.0.iter().fold(0, |acc, s| acc | s.bit())
    }

    /// Whether the set contains `scope`.
    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// The scopes.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a token's chat scope allows, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChatRole {
    /// `chat.join.limited`: messages, receipts, typing, reading participants.
    JoinLimited,
    /// `chat.join`: additionally add and remove participants.
    Join,
    /// `chat`: additionally create, update and delete threads.
    Full,
}

impl ScopeSet {
    /// The strongest chat role the scopes give, if any.
    pub fn chat_role(&self) -> Option<ChatRole> {
        if self.contains(Scope::Chat) {
            Some(ChatRole::Full)
        } else if self.contains(Scope::ChatJoin) {
            Some(ChatRole::Join)
        } else if self.contains(Scope::ChatJoinLimited) {
            Some(ChatRole::JoinLimited)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_round_trip_in_canonical_order() {
        let set = ScopeSet::new([Scope::Voip, Scope::Chat, Scope::Chat]);
        assert_eq!(set.to_claim(), "chat,voip");
        assert_eq!(ScopeSet::parse_claim("voip,chat"), Some(set.clone()));
        assert_eq!(set.scp(), 1792);
    }

    #[test]
    fn unknown_scope_names_do_not_parse() {
        assert_eq!(Scope::parse("chat.admin"), None);
        assert_eq!(ScopeSet::parse_claim("chat,nope"), None);
        assert_eq!(Scope::parse("Chat.Join"), Some(Scope::ChatJoin));
    }
}
