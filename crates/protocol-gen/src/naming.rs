//! Rust names and doc text derived from spec names and descriptions.

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv",
    "try", "typeof", "unsized", "virtual", "yield", "gen",
];

/// `ProducerId` -> `producer_id`, `isKRaftController` -> `is_kraft_controller`.
pub(crate) fn snake(name: &str) -> String {
    // "KRaft" is one word: `KRaftVersion` -> `kraft_version`, not `k_raft_version`.
    let name = name.replace("KRaft", "Kraft");
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The Rust field name for a spec field name; keywords get a trailing underscore.
pub(crate) fn field_ident(name: &str) -> String {
    let s = snake(name);
    if KEYWORDS.contains(&s.as_str()) {
        format!("{s}_")
    } else {
        s
    }
}

/// Escapes text for a `///` doc comment (no intra-doc links, no HTML).
pub(crate) fn doc_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.trim().chars() {
        match c {
            '[' | ']' | '<' | '>' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for a Rust string literal.
pub(crate) fn str_lit(s: &str) -> String {
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases() {
        assert_eq!(snake("TopicData"), "topic_data");
        assert_eq!(snake("ProducerId"), "producer_id");
        assert_eq!(snake("isKRaftController"), "is_kraft_controller");
        assert_eq!(snake("KRaftVersionRecord"), "kraft_version_record");
        assert_eq!(snake("V3AndBelowTopics"), "v3_and_below_topics");
        assert_eq!(snake("ProduceRequest"), "produce_request");
        assert_eq!(field_ident("Type"), "type_");
        assert_eq!(field_ident("Match"), "match_");
    }
}
