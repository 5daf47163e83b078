//! Subscription regular expressions (KIP-848 `SubscribedTopicRegex`): RE2/J syntax, as the
//! Java client and franz-go send it, matched against whole topic names. Compiled with the
//! `regex` project's own parser and engine (RE2 semantics); RE2/J's `\Q...\E` quoting,
//! which Rust's parser lacks and `Pattern.quote` produces, is turned into escapes first.
//! Rust is more lenient in places (it takes `a**`, which RE2/J refuses); such a pattern
//! matches as Rust reads it. Patterns come from clients, so nesting and compiled size are
//! bounded.

use std::collections::{BTreeMap, BTreeSet};

use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use regex_syntax::hir::{Hir, Look};

/// How deeply a pattern may nest.
const NEST_LIMIT: u32 = 100;
/// The most memory one compiled pattern may take.
const SIZE_LIMIT: usize = 1 << 20;

/// A compiled subscription pattern.
#[derive(Debug, Clone)]
pub struct TopicRegex {
    source: String,
    regex: Regex,
}

impl TopicRegex {
    /// Compiles `pattern`; the error says why it is not valid.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let unquoted = unquote(pattern)?;
        let hir = regex_syntax::ParserBuilder::new()
            .nest_limit(NEST_LIMIT)
            .build()
            .parse(&unquoted)
            .map_err(|e| first_line(&e.to_string()))?;
        // Whole names only, as RE2/J's `matches()`: anchored around the parsed pattern (not
        // around its text, which a comment or an unbalanced part could escape).
        let anchored = Hir::concat(vec![Hir::look(Look::Start), hir, Hir::look(Look::End)]);
        let regex = Regex::builder()
            .configure(
                Regex::config()
                    .nfa_size_limit(Some(SIZE_LIMIT))
                    .dfa_size_limit(Some(SIZE_LIMIT)),
            )
            .syntax(syntax::Config::new().nest_limit(NEST_LIMIT))
            .build_from_hir(&anchored)
            .map_err(|e| first_line(&e.to_string()))?;
        Ok(Self {
            source: pattern.to_string(),
            regex,
        })
    }

    /// Whether `topic` matches as a whole.
    pub fn matches(&self, topic: &str) -> bool {
        self.regex.is_match(topic)
    }

    /// The pattern as the client sent it.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// The cluster's topics as a consumer group sees them.
pub trait Topics {
    /// The partition count of `topic`, if it exists.
    fn partitions(&self, topic: &str) -> Option<i32>;
    /// Every topic a subscription pattern may match (internal topics left out).
    fn names(&self) -> Vec<String>;
}

/// Partition counts alone: a view with no topics for patterns to match.
impl<F: Fn(&str) -> Option<i32>> Topics for F {
    fn partitions(&self, topic: &str) -> Option<i32> {
        self(topic)
    }

    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The topics each of `patterns` matches among `topics`' names, compiling into (and
/// keeping in) `compiled` only the patterns still in use. A pattern that does not compile
/// (one stored before it was checked) matches nothing.
pub(crate) fn resolve(
    compiled: &mut BTreeMap<String, TopicRegex>,
    patterns: &BTreeSet<String>,
    topics: &dyn Topics,
) -> BTreeMap<String, BTreeSet<String>> {
    compiled.retain(|p, _| patterns.contains(p));
    if patterns.is_empty() {
        return BTreeMap::new();
    }
    let names = topics.names();
    let mut out = BTreeMap::new();
    for p in patterns {
        if !compiled.contains_key(p) {
            match TopicRegex::new(p) {
                Ok(r) => {
                    compiled.insert(p.clone(), r);
                }
                Err(_) => continue,
            }
        }
        if let Some(r) = compiled.get(p) {
            let matched = names.iter().filter(|n| r.matches(n)).cloned().collect();
            out.insert(p.clone(), matched);
        }
    }
    out
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

/// `pattern` with each `\Q...\E` (to the end if `\E` is missing) replaced by its text,
/// escaped; a `\\` pair is kept as it is.
fn unquote(pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.chars().next() {
            Some('Q') => {
                let quoted = &after[1..];
                let (text, tail) = match quoted.find("\\E") {
                    Some(end) => (&quoted[..end], &quoted[end + 2..]),
                    None => (quoted, ""),
                };
                out.push_str(&regex_syntax::escape(text));
                rest = tail;
            }
            Some(c) => {
                out.push('\\');
                out.push(c);
                rest = &after[c.len_utf8()..];
            }
            None => return Err("trailing backslash".into()),
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::TopicRegex;

    fn re(p: &str) -> TopicRegex {
        TopicRegex::new(p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn whole_names_match() {
        let r = re("orders-.*");
        assert!(r.matches("orders-eu"));
        assert!(!r.matches("old-orders-eu"), "anchored at the start");
        assert!(re("a|b").matches("b") && !re("a|b").matches("ab"));
        assert!(!re("order").matches("orders"), "anchored at the end");
        // As librdkafka and franz-go join several patterns.
        let joined = re("(^a.*)|(^b.*)");
        assert!(joined.matches("apple") && joined.matches("banana") && !joined.matches("cherry"));
        assert!(re("(?:x\\d+)|(?:y)").matches("x12"));
    }

    #[test]
    fn java_quoting_is_understood() {
        // Pattern.quote("a.b") + ".*"
        let r = re("\\Qa.b\\E.*");
        assert!(r.matches("a.b-1"));
        assert!(!r.matches("axb-1"));
        assert!(re("\\Qa+\\E").matches("a+"));
        assert!(
            re("x\\\\Qy").matches("x\\Qy"),
            "an escaped backslash is not a quote"
        );
    }

    #[test]
    fn invalid_patterns_say_why() {
        for p in ["a)|(b", "(", "[z-a]", "x{2,1}", "\\"] {
            let e = TopicRegex::new(p).err();
            assert!(e.as_deref().is_some_and(|e| !e.is_empty()), "{p} accepted");
        }
        let deep = "(".repeat(200) + &")".repeat(200);
        assert!(TopicRegex::new(&deep).is_err(), "nesting is bounded");
        assert!(
            TopicRegex::new("(?:a{1000}){1000}").is_err(),
            "size is bounded"
        );
    }
}
