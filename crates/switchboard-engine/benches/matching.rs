//! Micro-benchmarks: URI lookup in [`PatternIndex`] with 10,000 patterns registered.
//!
//! `cargo bench -p switchboard-engine --bench matching` (divan). A lookup should cost the
//! length of the URI, not the number of patterns (ARCHITECTURE.md decision 4), so each case
//! is also run with 100 patterns for comparison.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use divan::{Bencher, black_box};
use switchboard_engine::matching::PatternIndex;
use switchboard_proto::uri::{MatchPolicy, Pattern, UriRules};

fn main() {
    divan::main();
}

const SIZES: [usize; 2] = [100, 10_000];

fn pattern(s: &str, policy: MatchPolicy) -> Pattern {
    Pattern::parse(s, policy, UriRules::Loose).expect("a valid pattern")
}

/// `n` patterns: 80 % exact, 10 % prefix, 10 % wildcard, spread over 100 "services".
fn index(n: usize) -> PatternIndex<usize> {
    let mut index = PatternIndex::new();
    for i in 0..n {
        let service = i % 100;
        let p = match i % 10 {
            0 => pattern(
                &format!("com.example.s{service}.p{i}."),
                MatchPolicy::Prefix,
            ),
            1 => pattern(&format!("com.example..m{i}"), MatchPolicy::Wildcard),
            _ => pattern(&format!("com.example.s{service}.m{i}"), MatchPolicy::Exact),
        };
        index.insert(p, i);
    }
    index
}

/// An exact registration is hit.
#[divan::bench(args = SIZES)]
fn best_match_exact(bencher: Bencher, n: usize) {
    let index = index(n);
    let uri = format!("com.example.s{}.m{}", (n - 2) % 100, n - 2);
    bencher.bench(|| index.best_match(black_box(&uri)).unwrap());
}

/// No exact pattern; the longest prefix wins.
#[divan::bench(args = SIZES)]
fn best_match_prefix(bencher: Bencher, n: usize) {
    let index = index(n);
    let uri = format!("com.example.s{}.p{}.deeper.still", (n - 10) % 100, n - 10);
    bencher.bench(|| index.best_match(black_box(&uri)).unwrap());
}

/// Only a wildcard pattern matches.
#[divan::bench(args = SIZES)]
fn best_match_wildcard(bencher: Bencher, n: usize) {
    let index = index(n);
    let uri = format!("com.example.anything.m{}", n - 9);
    bencher.bench(|| index.best_match(black_box(&uri)).unwrap());
}

/// Nothing matches.
#[divan::bench(args = SIZES)]
fn best_match_miss(bencher: Bencher, n: usize) {
    let index = index(n);
    let uri = "org.other.service.method";
    bencher.bench(|| index.best_match(black_box(uri)).is_none());
}

/// Every matching subscription (what a publish does): exact + prefix + wildcard hits.
#[divan::bench(args = SIZES)]
fn all_matches(bencher: Bencher, n: usize) {
    let mut index = index(n);
    index.insert(pattern("com.example.", MatchPolicy::Prefix), usize::MAX);
    let uri = format!("com.example.s{}.m{}", (n - 2) % 100, n - 2);
    bencher.bench(|| index.matches(black_box(&uri)).count());
}
