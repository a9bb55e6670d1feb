//! URI pattern index (exact, prefix, wildcard) shared by the broker and the dealer.
//!
//! [`PatternIndex`] maps [`Pattern`]s to values and answers the two questions routing asks:
//! which patterns match a published topic ([`PatternIndex::matches`], pubsub semantics of
//! wamp-spec §5.17) and which single pattern wins a call ([`PatternIndex::best_match`], RPC
//! precedence of wamp-spec §5.7).
//!
//! Lookups cost the length of the URI, not the number of patterns (ARCHITECTURE decision 4):
//! exact patterns sit in a hash map; prefix patterns in a compressed byte trie, so one walk
//! down the URI's bytes meets every stored string prefix; wildcard patterns in a trie keyed by
//! component, where an empty component is a wildcard edge. A wildcard lookup follows at most
//! two edges per node (the concrete one and the wildcard one), so it visits at most the
//! stored nodes whose path matches the URI so far.
//!
//! Both tries keep their nodes in an arena with a free list and are walked iteratively, so a
//! pattern with a million components neither overflows the stack nor leaks: removing a
//! pattern prunes the nodes only it needed and their slots are reused.
//!
//! ```
//! use switchboard_engine::matching::PatternIndex;
//! use switchboard_proto::uri::{MatchPolicy, Pattern, UriRules};
//!
//! let pattern = |s, policy| Pattern::parse(s, policy, UriRules::Loose);
//! let mut index = PatternIndex::new();
//! index.insert(pattern("com.app.", MatchPolicy::Prefix)?, "prefix");
//! index.insert(pattern("com.app..get", MatchPolicy::Wildcard)?, "wildcard");
//! assert_eq!(index.matches("com.app.user.get").count(), 2);
//! let (_, best) = index.best_match("com.app.user.get").ok_or("no match")?;
//! assert_eq!(*best, "prefix");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use switchboard_proto::uri::{MatchPolicy, Pattern};

/// An index from [`Pattern`]s of all three match policies to values of type `T`.
#[derive(Clone, Debug)]
pub struct PatternIndex<T> {
    exact: HashMap<ExactKey, T>,
    prefix: PrefixTrie<Entry<T>>,
    wildcard: WildcardTrie<Entry<T>>,
    len: usize,
}

impl<T> Default for PatternIndex<T> {
    fn default() -> Self {
        PatternIndex {
            exact: HashMap::new(),
            prefix: PrefixTrie::default(),
            wildcard: WildcardTrie::default(),
            len: 0,
        }
    }
}

impl<T> PatternIndex<T> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of patterns stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no pattern is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `value` under `pattern`, returning the value it replaces, if any.
    pub fn insert(&mut self, pattern: Pattern, value: T) -> Option<T> {
        let old = match pattern.policy() {
            MatchPolicy::Exact => self.exact.insert(ExactKey(pattern), value),
            MatchPolicy::Prefix => {
                let key = pattern.clone();
                let entry = Entry { pattern, value };
                let old = self.prefix.insert(key.as_str().as_bytes(), entry);
                old.map(Entry::into_value)
            }
            MatchPolicy::Wildcard => {
                let key = pattern.clone();
                let entry = Entry { pattern, value };
                let old = self.wildcard.insert(key.as_str(), entry);
                old.map(Entry::into_value)
            }
        };
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// The value stored under `pattern` (same text and same policy).
    pub fn get(&self, pattern: &Pattern) -> Option<&T> {
        match pattern.policy() {
            MatchPolicy::Exact => self.exact.get(pattern.as_str()),
            MatchPolicy::Prefix => self
                .prefix
                .get(pattern.as_str().as_bytes())
                .map(Entry::value),
            MatchPolicy::Wildcard => self.wildcard.get(pattern.as_str()).map(Entry::value),
        }
    }

    /// The value stored under `pattern`, mutably.
    pub fn get_mut(&mut self, pattern: &Pattern) -> Option<&mut T> {
        match pattern.policy() {
            MatchPolicy::Exact => self.exact.get_mut(pattern.as_str()),
            MatchPolicy::Prefix => {
                let entry = self.prefix.get_mut(pattern.as_str().as_bytes());
                entry.map(|e| &mut e.value)
            }
            MatchPolicy::Wildcard => {
                let entry = self.wildcard.get_mut(pattern.as_str());
                entry.map(|e| &mut e.value)
            }
        }
    }

    /// Removes `pattern`, returning its value. Trie nodes only it needed are freed.
    pub fn remove(&mut self, pattern: &Pattern) -> Option<T> {
        let removed = match pattern.policy() {
            MatchPolicy::Exact => self.exact.remove(pattern.as_str()),
            MatchPolicy::Prefix => {
                let entry = self.prefix.remove(pattern.as_str().as_bytes());
                entry.map(Entry::into_value)
            }
            MatchPolicy::Wildcard => self
                .wildcard
                .remove(pattern.as_str())
                .map(Entry::into_value),
        };
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    /// Every stored pattern and its value, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Pattern, &T)> {
        let exact = self.exact.iter().map(|(key, value)| (&key.0, value));
        let prefix = self.prefix.values().map(Entry::pair);
        let wildcard = self.wildcard.values().map(Entry::pair);
        exact.chain(prefix).chain(wildcard)
    }

    /// Every pattern matching `uri`, of every policy: who receives an event (wamp-spec §5.17).
    ///
    /// Order: the exact pattern, then prefixes from shortest to longest, then wildcards in
    /// decreasing precedence (see [`PatternIndex::best_match`]).
    pub fn matches<'a>(&'a self, uri: &str) -> impl Iterator<Item = (&'a Pattern, &'a T)> {
        let exact = self
            .exact
            .get_key_value(uri)
            .map(|(key, value)| (&key.0, value));
        let prefix = self.prefix.matches(uri.as_bytes()).map(Entry::pair);
        let wildcard = self.wildcard.matches(uri).map(Entry::pair);
        exact.into_iter().chain(prefix).chain(wildcard)
    }

    /// The one pattern a call to `uri` is routed to (wamp-spec §5.7): the exact pattern if
    /// any, else the longest matching prefix, else the matching wildcard pattern with the
    /// lexicographically largest [`Pattern::wildcard_runs`].
    pub fn best_match(&self, uri: &str) -> Option<(&Pattern, &T)> {
        if let Some((key, value)) = self.exact.get_key_value(uri) {
            return Some((&key.0, value));
        }
        if let Some(entry) = self.prefix.matches(uri.as_bytes()).last() {
            return Some(entry.pair());
        }
        self.wildcard.matches(uri).next().map(Entry::pair)
    }
}

/// A stored pattern with its value, as kept in the tries.
#[derive(Clone, Debug)]
struct Entry<T> {
    pattern: Pattern,
    value: T,
}

impl<T> Entry<T> {
    fn pair(&self) -> (&Pattern, &T) {
        (&self.pattern, &self.value)
    }

    fn value(&self) -> &T {
        &self.value
    }

    fn into_value(self) -> T {
        self.value
    }
}

/// Hash map key for exact patterns, hashed and compared by text only so that the map can be
/// queried with a `&str`. Consistent with `Pattern`'s own `Eq` because every key in the map
/// has the exact policy.
#[derive(Clone, Debug)]
struct ExactKey(Pattern);

impl PartialEq for ExactKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for ExactKey {}

impl Hash for ExactKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_str().hash(state);
    }
}

impl Borrow<str> for ExactKey {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

// ---------------------------------------------------------------------------------------------
// Node arena
// ---------------------------------------------------------------------------------------------

/// Index of a node in an [`Arena`].
type NodeId = usize;

/// The root of every trie; never freed.
const ROOT: NodeId = 0;

/// Trie nodes in one vector, with freed slots reused. Invariant: every `NodeId` stored in a
/// live node is in bounds, so indexing never panics.
#[derive(Clone, Debug)]
struct Arena<N> {
    nodes: Vec<N>,
    free: Vec<NodeId>,
}

impl<N: Default> Default for Arena<N> {
    fn default() -> Self {
        Arena {
            nodes: vec![N::default()],
            free: Vec::new(),
        }
    }
}

impl<N: Default> Arena<N> {
    fn alloc(&mut self, node: N) -> NodeId {
        match self.free.pop() {
            Some(id) => {
                self.nodes[id] = node;
                id
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    /// Frees a node; its slot is reset, dropping whatever it held.
    fn release(&mut self, id: NodeId) {
        self.nodes[id] = N::default();
        self.free.push(id);
    }

    #[cfg(test)]
    fn live(&self) -> usize {
        self.nodes.len() - self.free.len()
    }
}

// ---------------------------------------------------------------------------------------------
// Prefix trie: compressed, byte-level
// ---------------------------------------------------------------------------------------------

/// A compressed trie over bytes. Invariants: edge labels are non-empty; the edges of a node
/// are sorted by, and distinct in, their first byte; every node but the root holds a value or
/// has at least two edges.
#[derive(Clone, Debug)]
struct PrefixTrie<V> {
    arena: Arena<PrefixNode<V>>,
}

#[derive(Clone, Debug)]
struct PrefixNode<V> {
    value: Option<V>,
    edges: Vec<Edge>,
}

#[derive(Clone, Debug)]
struct Edge {
    label: Box<[u8]>,
    child: NodeId,
}

impl<V> Default for PrefixNode<V> {
    fn default() -> Self {
        PrefixNode {
            value: None,
            edges: Vec::new(),
        }
    }
}

impl<V> Default for PrefixTrie<V> {
    fn default() -> Self {
        PrefixTrie {
            arena: Arena::default(),
        }
    }
}

impl<V> PrefixNode<V> {
    /// Position of the edge starting with `byte`, or where it would be inserted.
    fn edge_index(&self, byte: u8) -> Result<usize, usize> {
        self.edges
            .binary_search_by_key(&Some(byte), |edge| edge.label.first().copied())
    }

    /// The edge whose label starts `rest`; consumes the label from `rest`.
    fn step(&self, rest: &mut &[u8]) -> Option<NodeId> {
        let index = self.edge_index(*rest.first()?).ok()?;
        let edge = &self.edges[index];
        *rest = rest.strip_prefix(&*edge.label)?;
        Some(edge.child)
    }
}

impl<V> PrefixTrie<V> {
    fn node(&self, id: NodeId) -> &PrefixNode<V> {
        &self.arena.nodes[id]
    }

    fn node_mut(&mut self, id: NodeId) -> &mut PrefixNode<V> {
        &mut self.arena.nodes[id]
    }

    /// The node whose path spells exactly `key`.
    fn find(&self, mut key: &[u8]) -> Option<NodeId> {
        let mut id = ROOT;
        while !key.is_empty() {
            id = self.node(id).step(&mut key)?;
        }
        Some(id)
    }

    fn get(&self, key: &[u8]) -> Option<&V> {
        self.node(self.find(key)?).value.as_ref()
    }

    fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let id = self.find(key)?;
        self.node_mut(id).value.as_mut()
    }

    fn insert(&mut self, mut key: &[u8], value: V) -> Option<V> {
        let mut id = ROOT;
        loop {
            let Some(&first) = key.first() else {
                return self.node_mut(id).value.replace(value);
            };
            let index = match self.node(id).edge_index(first) {
                Ok(index) => index,
                Err(index) => {
                    let leaf = self.arena.alloc(PrefixNode {
                        value: Some(value),
                        edges: Vec::new(),
                    });
                    let edge = Edge {
                        label: key.into(),
                        child: leaf,
                    };
                    self.node_mut(id).edges.insert(index, edge);
                    return None;
                }
            };
            let edge = &self.node(id).edges[index];
            let common = common_prefix_len(&edge.label, key);
            if common < edge.label.len() {
                // Split the edge: `id -label[..common]-> mid -label[common..]-> child`.
                let tail = Edge {
                    label: edge.label[common..].into(),
                    child: edge.child,
                };
                let mid = self.arena.alloc(PrefixNode {
                    value: None,
                    edges: vec![tail],
                });
                let edge = &mut self.node_mut(id).edges[index];
                edge.label = edge.label[..common].into();
                edge.child = mid;
            }
            id = self.node(id).edges[index].child;
            key = &key[common..];
        }
    }

    fn remove(&mut self, mut key: &[u8]) -> Option<V> {
        // (parent, index of the edge taken) for every step down.
        let mut path: Vec<(NodeId, usize)> = Vec::new();
        let mut id = ROOT;
        while let Some(&first) = key.first() {
            let index = self.node(id).edge_index(first).ok()?;
            let edge = &self.node(id).edges[index];
            key = key.strip_prefix(&*edge.label)?;
            path.push((id, index));
            id = edge.child;
        }
        let value = self.node_mut(id).value.take()?;
        // Restore the invariant: a valueless non-root node has at least two edges.
        if let Some(&(parent, index)) = path.last() {
            match self.node(id).edges.len() {
                0 => {
                    self.node_mut(parent).edges.remove(index);
                    self.arena.release(id);
                    let parent_node = self.node(parent);
                    let lone = parent_node.value.is_none() && parent_node.edges.len() == 1;
                    // The parent may now be a valueless node with one edge: fold it upward.
                    if lone && let Some(&(grandparent, index)) = path.iter().rev().nth(1) {
                        self.merge(grandparent, index);
                    }
                }
                1 => self.merge(parent, index),
                _ => {}
            }
        }
        Some(value)
    }

    /// Folds the child at `parent.edges[index]`, valueless with one edge, into that edge.
    fn merge(&mut self, parent: NodeId, index: usize) {
        let child = self.node(parent).edges[index].child;
        let Some(grandchild) = self.node_mut(child).edges.pop() else {
            return;
        };
        let edge = &mut self.node_mut(parent).edges[index];
        edge.label = [&*edge.label, &*grandchild.label].concat().into();
        edge.child = grandchild.child;
        self.arena.release(child);
    }

    /// Values at every stored key that is a prefix of `key`, shortest first.
    fn matches<'a, 'k>(&'a self, key: &'k [u8]) -> PrefixMatches<'a, 'k, V> {
        PrefixMatches {
            trie: self,
            next: Some(ROOT),
            rest: key,
        }
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.arena
            .nodes
            .iter()
            .filter_map(|node| node.value.as_ref())
    }
}

fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Iterator behind [`PrefixTrie::matches`]: one walk down the key.
struct PrefixMatches<'a, 'k, V> {
    trie: &'a PrefixTrie<V>,
    next: Option<NodeId>,
    rest: &'k [u8],
}

impl<'a, V> Iterator for PrefixMatches<'a, '_, V> {
    type Item = &'a V;

    fn next(&mut self) -> Option<&'a V> {
        while let Some(id) = self.next {
            let node = self.trie.node(id);
            self.next = node.step(&mut self.rest);
            if let Some(value) = &node.value {
                return Some(value);
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Wildcard trie: one level per URI component
// ---------------------------------------------------------------------------------------------

/// A trie keyed by URI component; an empty pattern component is the wildcard edge.
/// Invariant: every node but the root holds a value or has a child.
#[derive(Clone, Debug)]
struct WildcardTrie<V> {
    arena: Arena<WildcardNode<V>>,
}

#[derive(Clone, Debug)]
struct WildcardNode<V> {
    value: Option<V>,
    wildcard: Option<NodeId>,
    children: HashMap<Box<str>, NodeId>,
}

impl<V> Default for WildcardNode<V> {
    fn default() -> Self {
        WildcardNode {
            value: None,
            wildcard: None,
            children: HashMap::new(),
        }
    }
}

impl<V> Default for WildcardTrie<V> {
    fn default() -> Self {
        WildcardTrie {
            arena: Arena::default(),
        }
    }
}

impl<V> WildcardNode<V> {
    fn child(&self, component: &str) -> Option<NodeId> {
        if component.is_empty() {
            self.wildcard
        } else {
            self.children.get(component).copied()
        }
    }

    fn is_unused(&self) -> bool {
        self.value.is_none() && self.wildcard.is_none() && self.children.is_empty()
    }
}

impl<V> WildcardTrie<V> {
    fn node(&self, id: NodeId) -> &WildcardNode<V> {
        &self.arena.nodes[id]
    }

    fn node_mut(&mut self, id: NodeId) -> &mut WildcardNode<V> {
        &mut self.arena.nodes[id]
    }

    fn find(&self, pattern: &str) -> Option<NodeId> {
        let mut id = ROOT;
        for component in pattern.split('.') {
            id = self.node(id).child(component)?;
        }
        Some(id)
    }

    fn get(&self, pattern: &str) -> Option<&V> {
        self.node(self.find(pattern)?).value.as_ref()
    }

    fn get_mut(&mut self, pattern: &str) -> Option<&mut V> {
        let id = self.find(pattern)?;
        self.node_mut(id).value.as_mut()
    }

    fn insert(&mut self, pattern: &str, value: V) -> Option<V> {
        let mut id = ROOT;
        for component in pattern.split('.') {
            id = match self.node(id).child(component) {
                Some(child) => child,
                None => {
                    let child = self.arena.alloc(WildcardNode::default());
                    let node = self.node_mut(id);
                    if component.is_empty() {
                        node.wildcard = Some(child);
                    } else {
                        node.children.insert(component.into(), child);
                    }
                    child
                }
            };
        }
        self.node_mut(id).value.replace(value)
    }

    fn remove(&mut self, pattern: &str) -> Option<V> {
        // (parent, component taken) for every step down.
        let mut path: Vec<(NodeId, &str)> = Vec::new();
        let mut id = ROOT;
        for component in pattern.split('.') {
            path.push((id, component));
            id = self.node(id).child(component)?;
        }
        let value = self.node_mut(id).value.take()?;
        while let Some((parent, component)) = path.pop() {
            if !self.node(id).is_unused() {
                break;
            }
            let node = self.node_mut(parent);
            if component.is_empty() {
                node.wildcard = None;
            } else {
                node.children.remove(component);
            }
            self.arena.release(id);
            id = parent;
        }
        Some(value)
    }

    /// Values of every pattern matching `uri`, in decreasing precedence.
    fn matches<'a, 'u>(&'a self, uri: &'u str) -> WildcardMatches<'a, 'u, V> {
        let mut stack = Vec::new();
        if !self.node(ROOT).is_unused() {
            stack.push((ROOT, 0));
        }
        WildcardMatches {
            trie: self,
            uri,
            stack,
        }
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.arena
            .nodes
            .iter()
            .filter_map(|node| node.value.as_ref())
    }
}

/// Iterator behind [`WildcardTrie::matches`]: a depth-first search that tries the concrete
/// edge before the wildcard edge. All matches have as many components as the URI, so two of
/// them first differ where one has a concrete component and the other a wildcard; the first
/// one's current run of concrete components is longer there, i.e. its
/// [`Pattern::wildcard_runs`] vector is larger. Concrete-first order therefore yields matches
/// in decreasing precedence (wamp-spec §5.7), and the first one is the best.
struct WildcardMatches<'a, 'u, V> {
    trie: &'a WildcardTrie<V>,
    uri: &'u str,
    /// Nodes to visit, with the byte offset where the next URI component starts; an offset
    /// past the end of the URI means every component has been consumed.
    stack: Vec<(NodeId, usize)>,
}

impl<'a, V> Iterator for WildcardMatches<'a, '_, V> {
    type Item = &'a V;

    fn next(&mut self) -> Option<&'a V> {
        while let Some((id, offset)) = self.stack.pop() {
            let node = self.trie.node(id);
            let Some(rest) = self.uri.get(offset..) else {
                match &node.value {
                    Some(value) => return Some(value),
                    None => continue,
                }
            };
            let (component, next) = match rest.split_once('.') {
                Some((component, _)) => (component, offset + component.len() + 1),
                None => (rest, self.uri.len() + 1),
            };
            // Neither a wildcard nor a concrete component matches an empty one.
            if component.is_empty() {
                continue;
            }
            // Pushed last, popped first: the concrete edge is explored before the wildcard.
            if let Some(wildcard) = node.wildcard {
                self.stack.push((wildcard, next));
            }
            if let Some(&child) = node.children.get(component) {
                self.stack.push((child, next));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use switchboard_proto::uri::UriRules;

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

    fn index_of(patterns: &[Pattern]) -> PatternIndex<usize> {
        let mut index = PatternIndex::new();
        for (i, p) in patterns.iter().enumerate() {
            index.insert(p.clone(), i);
        }
        index
    }

    fn matched(index: &PatternIndex<usize>, uri: &str) -> Vec<String> {
        let mut found: Vec<String> = index
            .matches(uri)
            .map(|(p, _)| format!("{}:{}", p.policy(), p))
            .collect();
        found.sort();
        found
    }

    fn best(index: &PatternIndex<usize>, uri: &str) -> Option<Pattern> {
        index.best_match(uri).map(|(p, _)| p.clone())
    }

    /// Live nodes of both tries, roots included.
    fn live_nodes<T>(index: &PatternIndex<T>) -> usize {
        index.prefix.arena.live() + index.wildcard.arena.live()
    }

    #[test]
    fn insert_replaces_and_get_finds_by_policy_and_text() {
        let mut index = PatternIndex::new();
        assert!(index.is_empty());
        assert_eq!(index.insert(exact("a.b"), 1), None);
        assert_eq!(index.insert(prefix("a.b"), 2), None);
        assert_eq!(index.insert(wild("a.b"), 3), None);
        assert_eq!(index.insert(prefix("a.b"), 4), Some(2));
        assert_eq!(index.len(), 3);
        assert_eq!(index.get(&exact("a.b")), Some(&1));
        assert_eq!(index.get(&prefix("a.b")), Some(&4));
        assert_eq!(index.get(&wild("a.b")), Some(&3));
        assert_eq!(index.get(&prefix("a")), None);
        assert_eq!(index.get(&wild("a")), None);
        *index.get_mut(&wild("a.b")).unwrap() = 30;
        *index.get_mut(&exact("a.b")).unwrap() = 10;
        *index.get_mut(&prefix("a.b")).unwrap() = 40;
        let mut all: Vec<_> = index.iter().map(|(p, v)| (p.clone(), *v)).collect();
        all.sort();
        assert_eq!(
            all,
            [(exact("a.b"), 10), (prefix("a.b"), 40), (wild("a.b"), 30)]
        );
    }

    #[test]
    fn event_goes_to_every_matching_subscription() {
        let index = index_of(&[
            exact("com.myapp.topic1"),
            prefix("com.myapp"),
            prefix("com.myapp.topic1"),
            prefix("com.other"),
            wild("com..topic1"),
            wild("..topic1"),
            wild("com.myapp."),
            wild("com.myapp"),
        ]);
        assert_eq!(
            matched(&index, "com.myapp.topic1"),
            [
                "exact:com.myapp.topic1",
                "prefix:com.myapp",
                "prefix:com.myapp.topic1",
                "wildcard:..topic1",
                "wildcard:com..topic1",
                "wildcard:com.myapp.",
            ]
        );
        assert!(matched(&index, "org.x").is_empty());
    }

    #[test]
    fn prefix_is_a_string_prefix_spec_example() {
        let index = index_of(&[prefix("com.myapp.myobject1")]);
        for uri in [
            "com.myapp.myobject1-mysubobject1",
            "com.myapp.myobject1",
            "com.myapp.myobject1.x.y",
        ] {
            assert_eq!(matched(&index, uri).len(), 1, "{uri}");
        }
        for uri in ["com.myapp.myobject", "com.myapp.myobject2", ""] {
            assert!(matched(&index, uri).is_empty(), "{uri}");
        }
    }

    #[test]
    fn empty_prefix_matches_every_uri() {
        let index = index_of(&[prefix("")]);
        assert_eq!(matched(&index, "a.b.c"), ["prefix:"]);
        assert_eq!(matched(&index, ""), ["prefix:"]);
    }

    #[test]
    fn wildcard_needs_equal_component_count_spec_example() {
        let index = index_of(&[wild("com.myapp..myprocedure1")]);
        assert_eq!(matched(&index, "com.myapp.X.myprocedure1").len(), 1);
        assert!(matched(&index, "com.myapp.X.myprocedure1.sub").is_empty());
        assert!(matched(&index, "com.myapp.myprocedure1").is_empty());
        assert!(matched(&index, "com.myapp..myprocedure1").is_empty());
    }

    #[test]
    fn call_prefers_exact_then_longest_prefix_then_wildcard() {
        let mut index = index_of(&[
            exact("a1.b2.c3.d4"),
            prefix("a1.b2"),
            prefix("a1.b2.c3"),
            wild("a1...d4"),
        ]);
        assert_eq!(best(&index, "a1.b2.c3.d4"), Some(exact("a1.b2.c3.d4")));
        index.remove(&exact("a1.b2.c3.d4"));
        assert_eq!(best(&index, "a1.b2.c3.d4"), Some(prefix("a1.b2.c3")));
        index.remove(&prefix("a1.b2.c3"));
        assert_eq!(best(&index, "a1.b2.c3.d4"), Some(prefix("a1.b2")));
        index.remove(&prefix("a1.b2"));
        assert_eq!(best(&index, "a1.b2.c3.d4"), Some(wild("a1...d4")));
        index.remove(&wild("a1...d4"));
        assert_eq!(best(&index, "a1.b2.c3.d4"), None);
    }

    #[test]
    fn call_picks_wildcard_with_largest_runs_spec_examples() {
        let index = index_of(&[wild("a1.b2..d4.e5"), wild("a1.b2.c33..e5")]);
        assert_eq!(best(&index, "a1.b2.c33.d4.e5"), Some(wild("a1.b2.c33..e5")));
        let index = index_of(&[wild("a1.b2..d4..f6.g7"), wild("a1.b2..d4.e5..g7")]);
        assert_eq!(
            best(&index, "a1.b2.c88.d4.e5.f6.g7"),
            Some(wild("a1.b2..d4.e5..g7"))
        );
        let index = index_of(&[wild(".b.c"), wild("a..c"), wild("..")]);
        assert_eq!(best(&index, "a.b.c"), Some(wild("a..c")));
    }

    #[test]
    fn radix_edges_split_and_merge_back() {
        let keys = ["abc", "abd", "ab", "a", "abcde", "b", ""];
        let mut index = index_of(&keys.map(prefix));
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(index.get(&prefix(key)), Some(&i));
        }
        assert_eq!(matched(&index, "abcdef").len(), 5);
        assert_eq!(best(&index, "abcdef"), Some(prefix("abcde")));
        for key in ["ab", "abc", "", "abcde", "a", "abd", "b"] {
            assert!(index.remove(&prefix(key)).is_some(), "{key}");
            assert_eq!(index.get(&prefix(key)), None);
            assert_eq!(index.remove(&prefix(key)), None);
        }
        assert!(index.is_empty());
        assert_eq!(live_nodes(&index), 2);
    }

    #[test]
    fn removing_everything_prunes_every_node() {
        let patterns = [
            prefix("com.myapp.topic"),
            prefix("com.myapp.t"),
            prefix("com.other"),
            wild("com..topic"),
            wild("com.myapp.topic"),
            wild("com.."),
            wild(""),
        ];
        let mut index = index_of(&patterns);
        for p in &patterns {
            assert!(index.remove(p).is_some());
        }
        assert_eq!(index.len(), 0);
        assert_eq!(live_nodes(&index), 2);
    }

    #[test]
    fn churn_reuses_freed_nodes() {
        let mut index = PatternIndex::new();
        let mut peak = 0;
        for round in 0..200 {
            let n = round % 7;
            let patterns = [
                prefix(&format!("com.app{n}.topic{round}")),
                wild(&format!("com..app{n}.x{round}")),
            ];
            for p in &patterns {
                index.insert(p.clone(), round);
            }
            peak = peak.max(index.prefix.arena.nodes.len() + index.wildcard.arena.nodes.len());
            for p in &patterns {
                index.remove(p);
            }
        }
        assert!(peak <= 2 + 1 + 4, "arena grew to {peak}");
        assert_eq!(live_nodes(&index), 2);
    }

    #[test]
    fn very_long_patterns_do_not_overflow_the_stack() {
        let n = 200_000;
        let long_wild = wild(&".".repeat(n));
        let long_prefix = prefix(&"a.".repeat(n));
        let mut index = PatternIndex::new();
        index.insert(long_wild.clone(), 1);
        index.insert(long_prefix.clone(), 2);
        let uri = vec!["a"; n + 1].join(".");
        assert_eq!(matched(&index, &uri).len(), 2);
        assert_eq!(matched(&index, &format!("{uri}.")).len(), 1);
        assert_eq!(best(&index, &uri), Some(long_prefix.clone()));
        assert_eq!(index.remove(&long_prefix), Some(2));
        assert_eq!(best(&index, &uri), Some(long_wild.clone()));
        // Dropping the index (with the pattern still stored) must not recurse either.
        let mut dropped = PatternIndex::new();
        dropped.insert(long_wild.clone(), 3);
        drop(dropped);
        assert_eq!(index.remove(&long_wild), Some(1));
        assert_eq!(live_nodes(&index), 2);
    }

    #[test]
    fn uri_with_empty_components_matches_no_wildcard() {
        let index = index_of(&[wild("a."), wild(".b"), wild("."), prefix("a.")]);
        assert_eq!(matched(&index, "a."), ["prefix:a."]);
        assert!(matched(&index, ".b").is_empty());
        assert!(matched(&index, ".").is_empty());
        assert_eq!(
            matched(&index, "a.b"),
            ["prefix:a.", "wildcard:.", "wildcard:.b", "wildcard:a."]
        );
    }

    // --- property tests -------------------------------------------------------------------

    /// Components from a tiny alphabet so that matches and shared prefixes are frequent; "ab"
    /// also has "a" as a string prefix.
    fn component() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["a", "b", "ab"])
    }

    fn pattern() -> impl Strategy<Value = Pattern> {
        let exact = prop::collection::vec(component(), 1..4)
            .prop_map(|c| Pattern::parse(&c.join("."), MatchPolicy::Exact, UriRules::Loose));
        let prefix = (prop::collection::vec(component(), 0..4), any::<bool>()).prop_map(
            |(c, trailing_dot)| {
                let mut s = c.join(".");
                if trailing_dot && !s.is_empty() {
                    s.push('.');
                }
                Pattern::parse(&s, MatchPolicy::Prefix, UriRules::Loose)
            },
        );
        let wildcard = prop::collection::vec(prop_oneof![component(), Just("")], 1..5)
            .prop_map(|c| Pattern::parse(&c.join("."), MatchPolicy::Wildcard, UriRules::Loose));
        prop_oneof![exact, prefix, wildcard].prop_map(|p| p.unwrap())
    }

    /// URIs over the same alphabet, sometimes with an (invalid) empty component.
    fn uri() -> impl Strategy<Value = String> {
        let component = prop_oneof![8 => component(), 1 => Just("")];
        prop::collection::vec(component, 1..5).prop_map(|c| c.join("."))
    }

    fn naive_matches<'a>(
        reference: &'a HashMap<Pattern, usize>,
        uri: &'a str,
    ) -> impl Iterator<Item = (&'a Pattern, &'a usize)> {
        reference.iter().filter(move |(p, _)| p.matches(uri))
    }

    /// The precedence rule of wamp-spec §5.7, by scanning every pattern.
    fn naive_best<'a>(
        reference: &'a HashMap<Pattern, usize>,
        uri: &'a str,
    ) -> Option<(&'a Pattern, &'a usize)> {
        let of = |policy| naive_matches(reference, uri).filter(move |(p, _)| p.policy() == policy);
        of(MatchPolicy::Exact)
            .next()
            .or_else(|| of(MatchPolicy::Prefix).max_by_key(|(p, _)| p.as_str().len()))
            .or_else(|| of(MatchPolicy::Wildcard).max_by_key(|(p, _)| p.wildcard_runs()))
    }

    fn sorted<'a>(items: impl Iterator<Item = (&'a Pattern, &'a usize)>) -> Vec<(Pattern, usize)> {
        let mut items: Vec<_> = items.map(|(p, v)| (p.clone(), *v)).collect();
        items.sort();
        items
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(Pattern, usize),
        Remove(Pattern),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (pattern(), 0..100usize).prop_map(|(p, v)| Op::Insert(p, v)),
            pattern().prop_map(Op::Remove),
        ]
    }

    proptest! {
        #[test]
        fn matches_agrees_with_naive_scan(
            entries in prop::collection::vec((pattern(), 0..100usize), 0..12),
            uris in prop::collection::vec(uri(), 1..8),
        ) {
            let mut index = PatternIndex::new();
            let mut reference = HashMap::new();
            for (p, v) in entries {
                index.insert(p.clone(), v);
                reference.insert(p, v);
            }
            for uri in &uris {
                prop_assert_eq!(sorted(index.matches(uri)), sorted(naive_matches(&reference, uri)));
            }
        }

        #[test]
        fn best_match_agrees_with_naive_precedence(
            entries in prop::collection::vec((pattern(), 0..100usize), 0..12),
            uris in prop::collection::vec(uri(), 1..8),
        ) {
            let mut index = PatternIndex::new();
            let mut reference = HashMap::new();
            for (p, v) in entries {
                index.insert(p.clone(), v);
                reference.insert(p, v);
            }
            for uri in &uris {
                let got = index.best_match(uri).map(|(p, v)| (p.clone(), *v));
                let want = naive_best(&reference, uri).map(|(p, v)| (p.clone(), *v));
                prop_assert_eq!(got, want, "uri {:?}", uri);
            }
        }

        #[test]
        fn wildcard_matches_come_in_decreasing_precedence(
            patterns in prop::collection::vec(pattern(), 0..12),
            uri in uri(),
        ) {
            let index = index_of(&patterns);
            let runs: Vec<_> = index
                .matches(&uri)
                .filter(|(p, _)| p.policy() == MatchPolicy::Wildcard)
                .map(|(p, _)| p.wildcard_runs())
                .collect();
            prop_assert!(runs.windows(2).all(|w| w[0] > w[1]), "{:?}", runs);
        }

        #[test]
        fn insert_remove_agree_with_hashmap(ops in prop::collection::vec(op(), 0..40)) {
            let mut index = PatternIndex::new();
            let mut reference = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(p, v) => {
                        prop_assert_eq!(index.insert(p.clone(), v), reference.insert(p, v));
                    }
                    Op::Remove(p) => {
                        prop_assert_eq!(index.remove(&p), reference.remove(&p));
                        prop_assert_eq!(index.get(&p), None);
                    }
                }
                prop_assert_eq!(index.len(), reference.len());
            }
            for (p, v) in &reference {
                prop_assert_eq!(index.get(p), Some(v));
            }
            prop_assert_eq!(sorted(index.iter()), sorted(reference.iter()));
            let keys: Vec<Pattern> = reference.keys().cloned().collect();
            for p in &keys {
                prop_assert_eq!(index.remove(p), reference.remove(p));
            }
            prop_assert!(index.is_empty());
            prop_assert_eq!(live_nodes(&index), 2);
        }
    }
}
