//! WAMP URIs and subscription/registration patterns (wamp-spec §2.1, §5.7, §5.17).
//!
//! A [`Uri`] is a validated URI with no empty components, as used for topics, procedures,
//! errors and realms. A [`Pattern`] is what a SUBSCRIBE or REGISTER carries: a URI string
//! plus its [`MatchPolicy`], validated with the rules for that policy.
//!
//! ```
//! use switchboard_proto::uri::{MatchPolicy, Pattern, Uri, UriRules};
//!
//! let uri = Uri::parse("com.myapp.topic1", UriRules::Strict)?;
//! let pattern = Pattern::parse("com.myapp..", MatchPolicy::Wildcard, UriRules::Loose)?;
//! assert!(!pattern.matches(&uri));
//! assert!(pattern.matches("com.myapp.x.y"));
//! # Ok::<(), switchboard_proto::uri::UriError>(())
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Which characters URI components may hold (wamp-spec §2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UriRules {
    /// The MUST rules: components do not contain `.`, `#` or whitespace (Unicode `White_Space`).
    #[default]
    Loose,
    /// The SHOULD rules: components hold only `0-9`, `a-z` and `_`.
    Strict,
}

/// How a subscription or registration URI is matched: the `match` option of SUBSCRIBE and
/// REGISTER (wamp-spec §5.7, §5.17).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchPolicy {
    /// The URI must be equal to the pattern.
    #[default]
    Exact,
    /// The pattern must be a string prefix of the URI.
    Prefix,
    /// Empty pattern components match any one component; the component counts must be equal.
    Wildcard,
}

impl MatchPolicy {
    /// Parses the wire spelling: `"exact"`, `"prefix"` or `"wildcard"`.
    pub fn parse(s: &str) -> Option<MatchPolicy> {
        match s {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }
}

impl fmt::Display for MatchPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a valid URI or pattern. All kinds map to `wamp.error.invalid_uri` on
/// the wire. Component indexes count from 0.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The string is empty where a URI is required.
    #[error("URI is empty")]
    Empty,
    /// A component is empty (`a..b`, `.a`, `a.`) where the rules do not allow it.
    #[error("URI component {index} is empty")]
    EmptyComponent {
        /// Index of the empty component.
        index: usize,
    },
    /// A component holds `#` or whitespace, forbidden by the loose rules.
    #[error("URI component {index} contains forbidden character {ch:?}")]
    ForbiddenChar {
        /// Index of the component.
        index: usize,
        /// The offending character.
        ch: char,
    },
    /// A component holds a character outside `0-9a-z_`, forbidden by the strict rules.
    #[error("URI component {index} contains {ch:?}; strict URIs allow only 0-9, a-z and _")]
    NotStrict {
        /// Index of the component.
        index: usize,
        /// The offending character.
        ch: char,
    },
}

/// Where empty components are allowed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Empties {
    /// Nowhere (URIs, exact patterns).
    Never,
    /// Only the last component (prefix patterns: `com.myapp.` and the empty string).
    Last,
    /// Anywhere (wildcard patterns).
    Anywhere,
}

/// Checks `s` against the rules of wamp-spec §2.1, component by component.
fn validate(s: &str, rules: UriRules, empties: Empties) -> Result<(), UriError> {
    if s.is_empty() && empties == Empties::Never {
        return Err(UriError::Empty);
    }
    let mut start = 0;
    for (index, component) in s.split('.').enumerate() {
        start += component.len() + 1;
        let is_last = start > s.len();
        if component.is_empty() {
            let allowed = match empties {
                Empties::Never => false,
                Empties::Last => is_last,
                Empties::Anywhere => true,
            };
            if !allowed {
                return Err(UriError::EmptyComponent { index });
            }
        }
        for ch in component.chars() {
            if ch == '#' || ch.is_whitespace() {
                return Err(UriError::ForbiddenChar { index, ch });
            }
            let strict_ok = ch.is_ascii_digit() || ch.is_ascii_lowercase() || ch == '_';
            if rules == UriRules::Strict && !strict_ok {
                return Err(UriError::NotStrict { index, ch });
            }
        }
    }
    Ok(())
}

/// A validated WAMP URI with no empty components. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uri(Arc<str>);

impl Uri {
    /// Parses and validates a URI under `rules`.
    pub fn parse(s: &str, rules: UriRules) -> Result<Uri, UriError> {
        validate(s, rules, Empties::Never)?;
        Ok(Uri(Arc::from(s)))
    }

    /// The URI text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the first component is `wamp`, reserved for spec-defined URIs (wamp-spec §2.1).
    pub fn is_reserved(&self) -> bool {
        self.0.split('.').next() == Some("wamp")
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Deref for Uri {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Uri {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Uri {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A validated subscription or registration pattern: a URI string and its [`MatchPolicy`].
///
/// Validation depends on the policy: exact patterns have no empty components; prefix
/// patterns may end with an empty component (`com.myapp.`, as Autobahn allows) and may be
/// the empty string (matches every URI, as Crossbar configs use); wildcard patterns may have
/// empty components anywhere. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pattern {
    policy: MatchPolicy,
    uri: Arc<str>,
}

impl Pattern {
    /// Parses and validates `s` as a pattern with `policy` under `rules`.
    pub fn parse(s: &str, policy: MatchPolicy, rules: UriRules) -> Result<Pattern, UriError> {
        let empties = match policy {
            MatchPolicy::Exact => Empties::Never,
            MatchPolicy::Prefix => Empties::Last,
            MatchPolicy::Wildcard => Empties::Anywhere,
        };
        validate(s, rules, empties)?;
        Ok(Pattern {
            policy,
            uri: Arc::from(s),
        })
    }

    /// The match policy.
    pub fn policy(&self) -> MatchPolicy {
        self.policy
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// Whether `uri` matches this pattern (wamp-spec §5.7): exact is string equality; prefix
    /// is string prefix (so `com.a` matches `com.a-b`, `com.a` and `com.a.b`); wildcard needs
    /// the same number of components, each concrete pattern component equal and each empty
    /// one matching exactly one non-empty component.
    pub fn matches(&self, uri: &str) -> bool {
        match self.policy {
            MatchPolicy::Exact => *self.uri == *uri,
            MatchPolicy::Prefix => uri.starts_with(&*self.uri),
            MatchPolicy::Wildcard => wildcard_matches(&self.uri, uri),
        }
    }

    /// Lengths of the runs of concrete components between wildcards, left to right: the
    /// wildcard precedence key of wamp-spec §5.7. Among wildcard patterns matching a URI, the
    /// one with the lexicographically largest vector wins.
    ///
    /// Convention: every wildcard closes a run, even an empty one, so the vector always has
    /// one more element than there are wildcards and keeps where the wildcards sit. A leading
    /// wildcard gives a leading 0 (`.b.c` → `[0, 2]`), a trailing one a trailing 0
    /// (`a.b.` → `[2, 0]`), adjacent ones a 0 between them (`a...d` → `[1, 0, 1]`). Hence
    /// `a..c` (`[1, 1]`) beats `.b.c` (`[0, 2]`): concrete components further left win.
    /// Exact and prefix patterns have no wildcards: they give `[number of non-empty components]`.
    pub fn wildcard_runs(&self) -> Vec<usize> {
        let mut runs = Vec::new();
        let mut run = 0;
        for component in self.uri.split('.') {
            if !component.is_empty() {
                run += 1;
            } else if self.policy == MatchPolicy::Wildcard {
                runs.push(run);
                run = 0;
            }
        }
        runs.push(run);
        runs
    }
}

impl From<Uri> for Pattern {
    /// The exact pattern for `uri`.
    fn from(uri: Uri) -> Pattern {
        Pattern {
            policy: MatchPolicy::Exact,
            uri: uri.0,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

/// Wildcard matching, walking both strings' components in step without allocating.
fn wildcard_matches(pattern: &str, uri: &str) -> bool {
    let mut pattern = pattern.split('.');
    let mut uri = uri.split('.');
    loop {
        match (pattern.next(), uri.next()) {
            (None, None) => return true,
            (Some(p), Some(u)) => {
                let ok = if p.is_empty() { !u.is_empty() } else { p == u };
                if !ok {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn uri(s: &str) -> Result<Uri, UriError> {
        Uri::parse(s, UriRules::Loose)
    }

    fn strict(s: &str) -> Result<Uri, UriError> {
        Uri::parse(s, UriRules::Strict)
    }

    fn pat(s: &str, policy: MatchPolicy) -> Pattern {
        Pattern::parse(s, policy, UriRules::Loose).unwrap()
    }

    fn exact(s: &str) -> Pattern {
        pat(s, MatchPolicy::Exact)
    }

    fn prefix(s: &str) -> Pattern {
        pat(s, MatchPolicy::Prefix)
    }

    fn wild(s: &str) -> Pattern {
        pat(s, MatchPolicy::Wildcard)
    }

    #[test]
    fn match_policy_round_trips_wire_spelling() {
        for policy in [
            MatchPolicy::Exact,
            MatchPolicy::Prefix,
            MatchPolicy::Wildcard,
        ] {
            assert_eq!(MatchPolicy::parse(policy.as_str()), Some(policy));
            assert_eq!(policy.to_string(), policy.as_str());
        }
        assert_eq!(MatchPolicy::parse("Exact"), None);
        assert_eq!(MatchPolicy::parse(""), None);
        assert_eq!(MatchPolicy::default(), MatchPolicy::Exact);
        assert_eq!(UriRules::default(), UriRules::Loose);
    }

    #[test]
    fn loose_uri_accepts_spec_examples_and_unicode() {
        for s in [
            "com.myapp.topic1",
            "a",
            "com.MyApp.Topic-1",
            "de.ö.ü",
            "wamp.error.x",
        ] {
            assert_eq!(uri(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn loose_uri_rejects_empty_components() {
        assert_eq!(uri(""), Err(UriError::Empty));
        assert_eq!(uri("."), Err(UriError::EmptyComponent { index: 0 }));
        assert_eq!(uri(".a"), Err(UriError::EmptyComponent { index: 0 }));
        assert_eq!(uri("a..b"), Err(UriError::EmptyComponent { index: 1 }));
        assert_eq!(uri("a.b."), Err(UriError::EmptyComponent { index: 2 }));
    }

    #[test]
    fn loose_uri_rejects_hash_and_whitespace() {
        assert_eq!(
            uri("a.b#c"),
            Err(UriError::ForbiddenChar { index: 1, ch: '#' })
        );
        for ws in [' ', '\t', '\n', '\u{a0}', '\u{2003}'] {
            let s = format!("a{ws}b.c");
            assert_eq!(uri(&s), Err(UriError::ForbiddenChar { index: 0, ch: ws }));
        }
    }

    #[test]
    fn strict_uri_allows_only_lowercase_digits_underscore() {
        assert!(strict("com.my_app.topic_1").is_ok());
        assert_eq!(
            strict("com.MyApp"),
            Err(UriError::NotStrict { index: 1, ch: 'M' })
        );
        assert_eq!(
            strict("com.my-app"),
            Err(UriError::NotStrict { index: 1, ch: '-' })
        );
        assert_eq!(
            strict("com.ö"),
            Err(UriError::NotStrict { index: 1, ch: 'ö' })
        );
        assert_eq!(
            strict("a b"),
            Err(UriError::ForbiddenChar { index: 0, ch: ' ' })
        );
        assert_eq!(strict("a..b"), Err(UriError::EmptyComponent { index: 1 }));
    }

    #[test]
    fn error_display_says_what_is_wrong() {
        assert_eq!(
            uri("a..b").unwrap_err().to_string(),
            "URI component 1 is empty"
        );
        assert_eq!(
            uri("a.b c").unwrap_err().to_string(),
            "URI component 1 contains forbidden character ' '"
        );
        assert!(strict("A").unwrap_err().to_string().contains("strict"));
        assert_eq!(uri("").unwrap_err().to_string(), "URI is empty");
    }

    #[test]
    fn reserved_uris_start_with_wamp_component() {
        assert!(uri("wamp.session.list").unwrap().is_reserved());
        assert!(uri("wamp").unwrap().is_reserved());
        assert!(!uri("wampx.session").unwrap().is_reserved());
        assert!(!uri("com.wamp").unwrap().is_reserved());
    }

    #[test]
    fn uri_derefs_displays_and_converts_to_exact_pattern() {
        let u = uri("com.a").unwrap();
        assert_eq!(u.len(), 5);
        assert_eq!(u.to_string(), "com.a");
        assert_eq!(AsRef::<str>::as_ref(&u), "com.a");
        let p = Pattern::from(u);
        assert_eq!(p, exact("com.a"));
        assert_eq!(p.to_string(), "com.a");
    }

    #[test]
    fn exact_pattern_follows_uri_rules() {
        let err = |s| Pattern::parse(s, MatchPolicy::Exact, UriRules::Loose).unwrap_err();
        assert_eq!(err(""), UriError::Empty);
        assert_eq!(err("a."), UriError::EmptyComponent { index: 1 });
        assert_eq!(err("a..b"), UriError::EmptyComponent { index: 1 });
        assert!(exact("a.b").matches("a.b"));
        assert!(!exact("a.b").matches("a.b.c"));
        assert!(!exact("a.b").matches("a.bc"));
    }

    #[test]
    fn prefix_pattern_allows_only_trailing_empty_component() {
        let err = |s| Pattern::parse(s, MatchPolicy::Prefix, UriRules::Loose).unwrap_err();
        assert_eq!(prefix("").as_str(), "");
        assert_eq!(prefix("com.myapp.").as_str(), "com.myapp.");
        assert_eq!(err("."), UriError::EmptyComponent { index: 0 });
        assert_eq!(err(".a"), UriError::EmptyComponent { index: 0 });
        assert_eq!(err("a..b"), UriError::EmptyComponent { index: 1 });
        assert_eq!(err("a.."), UriError::EmptyComponent { index: 1 });
        assert_eq!(err("a.#"), UriError::ForbiddenChar { index: 1, ch: '#' });
    }

    #[test]
    fn prefix_matches_string_prefixes_spec_example() {
        let p = prefix("com.myapp.myobject1");
        assert!(p.matches("com.myapp.myobject1-mysubobject1"));
        assert!(p.matches("com.myapp.myobject1"));
        assert!(p.matches("com.myapp.myobject1.x.y"));
        assert!(!p.matches("com.myapp.myobject"));
        assert!(!p.matches("com.myapp.myobject2"));
        assert!(prefix("").matches("anything.at.all"));
        assert!(prefix("com.myapp.").matches("com.myapp.x"));
        assert!(!prefix("com.myapp.").matches("com.myapp"));
    }

    #[test]
    fn wildcard_pattern_allows_empty_components_anywhere() {
        for s in ["", ".", "..", ".a", "a.", "a..b", "com.myapp..myprocedure1"] {
            assert_eq!(wild(s).as_str(), s);
        }
        let err = Pattern::parse("a. .b", MatchPolicy::Wildcard, UriRules::Loose).unwrap_err();
        assert_eq!(err, UriError::ForbiddenChar { index: 1, ch: ' ' });
        let err = Pattern::parse("a..B", MatchPolicy::Wildcard, UriRules::Strict).unwrap_err();
        assert_eq!(err, UriError::NotStrict { index: 2, ch: 'B' });
    }

    #[test]
    fn wildcard_matches_one_whole_component_spec_example() {
        let p = wild("com.myapp..myprocedure1");
        assert!(p.matches("com.myapp.X.myprocedure1"));
        assert!(!p.matches("com.myapp.X.myprocedure1.sub"));
        assert!(!p.matches("com.myapp.myprocedure1"));
        assert!(!p.matches("com.myapp..myprocedure1"));
        assert!(!p.matches("com.myapp.X.myprocedure2"));
        assert!(wild("").matches("a"));
        assert!(!wild("").matches(""));
        assert!(!wild("").matches("a.b"));
        assert!(wild("..").matches("a.b.c"));
        assert!(wild("a.b").matches("a.b"));
    }

    #[test]
    fn wildcard_runs_spec_examples() {
        assert_eq!(wild("a1.b2.c33..e5").wildcard_runs(), [3, 1]);
        assert_eq!(wild("a1.b2..d4.e5").wildcard_runs(), [2, 2]);
        assert_eq!(wild("a1.b2..d4.e5..g7").wildcard_runs(), [2, 2, 1]);
        assert_eq!(wild("a1.b2..d4..f6.g7").wildcard_runs(), [2, 1, 2]);
        assert!(wild("a1.b2.c33..e5").wildcard_runs() > wild("a1.b2..d4.e5").wildcard_runs());
        assert!(
            wild("a1.b2..d4.e5..g7").wildcard_runs() > wild("a1.b2..d4..f6.g7").wildcard_runs()
        );
    }

    #[test]
    fn wildcard_runs_keep_leading_trailing_and_adjacent_wildcards() {
        assert_eq!(wild(".b.c").wildcard_runs(), [0, 2]);
        assert_eq!(wild("a.b.").wildcard_runs(), [2, 0]);
        assert_eq!(wild("a...d").wildcard_runs(), [1, 0, 1]);
        assert_eq!(wild("").wildcard_runs(), [0, 0]);
        assert_eq!(wild("a.b").wildcard_runs(), [2]);
        assert!(wild("a..c").wildcard_runs() > wild(".b.c").wildcard_runs());
        assert_eq!(exact("a.b.c").wildcard_runs(), [3]);
        assert_eq!(prefix("a.b.").wildcard_runs(), [2]);
    }

    #[test]
    fn same_text_different_policy_are_different_patterns() {
        assert_ne!(exact("a.b"), prefix("a.b"));
        assert_ne!(prefix("a.b"), wild("a.b"));
        assert_eq!(wild("a.b").policy(), MatchPolicy::Wildcard);
    }

    /// Reference matcher written independently: collected components and indexing.
    fn naive_matches(policy: MatchPolicy, pattern: &str, uri: &str) -> bool {
        match policy {
            MatchPolicy::Exact => pattern.as_bytes() == uri.as_bytes(),
            MatchPolicy::Prefix => {
                uri.len() >= pattern.len() && &uri.as_bytes()[..pattern.len()] == pattern.as_bytes()
            }
            MatchPolicy::Wildcard => {
                let p: Vec<&str> = pattern.split('.').collect();
                let u: Vec<&str> = uri.split('.').collect();
                p.len() == u.len()
                    && (0..p.len()).all(|i| {
                        if p[i].is_empty() {
                            !u[i].is_empty()
                        } else {
                            p[i] == u[i]
                        }
                    })
            }
        }
    }

    /// Reference validity written independently, after the regexes of wamp-spec §2.1.
    fn naive_valid(s: &str, policy: MatchPolicy, rules: UriRules) -> bool {
        let chars_ok = s.chars().all(|c| match rules {
            UriRules::Loose => c != '#' && !c.is_whitespace(),
            UriRules::Strict => c == '.' || c == '_' || matches!(c, '0'..='9' | 'a'..='z'),
        });
        let structure_ok = match policy {
            MatchPolicy::Exact => {
                !s.is_empty() && !s.starts_with('.') && !s.ends_with('.') && !s.contains("..")
            }
            MatchPolicy::Prefix => s.is_empty() || (!s.starts_with('.') && !s.contains("..")),
            MatchPolicy::Wildcard => true,
        };
        chars_ok && structure_ok
    }

    fn policy() -> impl Strategy<Value = MatchPolicy> {
        prop_oneof![
            Just(MatchPolicy::Exact),
            Just(MatchPolicy::Prefix),
            Just(MatchPolicy::Wildcard),
        ]
    }

    fn rules() -> impl Strategy<Value = UriRules> {
        prop_oneof![Just(UriRules::Loose), Just(UriRules::Strict)]
    }

    /// Short strings over an alphabet where separators, forbidden characters and collisions
    /// are frequent.
    fn small_string() -> impl Strategy<Value = String> {
        "[ab.#A é]{0,8}"
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_strings(s in any::<String>(), policy in policy(), rules in rules()) {
            let _ = Uri::parse(&s, rules);
            if let Ok(p) = Pattern::parse(&s, policy, rules) {
                let _ = p.wildcard_runs();
                prop_assert!(p.matches(&s) || policy == MatchPolicy::Wildcard);
            }
        }

        #[test]
        fn validation_agrees_with_reference(s in small_string(), policy in policy(), rules in rules()) {
            let valid = Pattern::parse(&s, policy, rules).is_ok();
            prop_assert_eq!(valid, naive_valid(&s, policy, rules));
            let uri_valid = Uri::parse(&s, rules).is_ok();
            prop_assert_eq!(uri_valid, naive_valid(&s, MatchPolicy::Exact, rules));
        }

        #[test]
        fn matches_agrees_with_reference(
            pattern in "[ab.]{0,6}",
            uri in "[ab.]{0,6}",
            policy in policy(),
        ) {
            if let Ok(p) = Pattern::parse(&pattern, policy, UriRules::Loose) {
                prop_assert_eq!(p.matches(&uri), naive_matches(policy, &pattern, &uri));
            }
        }

        #[test]
        fn wildcard_runs_sum_and_length_follow_components(pattern in "[ab.]{0,8}") {
            let p = Pattern::parse(&pattern, MatchPolicy::Wildcard, UriRules::Loose).unwrap();
            let components: Vec<&str> = pattern.split('.').collect();
            let wildcards = components.iter().filter(|c| c.is_empty()).count();
            let runs = p.wildcard_runs();
            prop_assert_eq!(runs.len(), wildcards + 1);
            prop_assert_eq!(runs.iter().sum::<usize>(), components.len() - wildcards);
        }
    }
}
