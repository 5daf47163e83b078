//! No import circles between the files of any crate in the workspace: dependencies flow one
//! way. Every `.rs` file under `crates/*/src` is parsed with `syn`; its `use` items and its
//! `crate::`, `super::` and `self::` paths (in code and in macro arguments, outside
//! `#[cfg(test)]` items) name the files it depends on, by the longest module prefix that is
//! a file. The crate root is a facade and is not a target; doc comments are not
//! dependencies. Any strongly connected group of more than one file fails the test, named.

#![allow(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

type ModPath = Vec<String>;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module a file is: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `lib.rs` is the root.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: ModPath = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("lib" | "main" | "mod")
    ) {
        parts.pop();
    }
    parts
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

/// Collects the module paths a file names, resolved against the module it is in.
struct Names {
    /// The module the visitor is in (the file's, plus any inline `mod` it entered).
    here: ModPath,
    found: Vec<ModPath>,
}

impl Names {
    /// `crate::a::b`, `super::a`, `self::a` as absolute module paths; others are ignored.
    fn push(&mut self, segments: &[String]) {
        let Some(first) = segments.first() else {
            return;
        };
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" | "super" => self.here.clone(),
            _ => return,
        };
        let mut rest = &segments[1..];
        if first == "super" {
            base.pop();
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        base.extend(rest.iter().cloned());
        self.found.push(base);
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                self.push(prefix);
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.push(prefix);
                prefix.pop();
            }
            syn::UseTree::Glob(_) => self.push(prefix),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }

    /// `crate :: a :: b` (and `super`, `self`) runs inside a macro's tokens.
    fn tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < trees.len() {
            if let TokenTree::Group(g) = &trees[i] {
                self.tokens(g.stream());
                i += 1;
                continue;
            }
            let TokenTree::Ident(id) = &trees[i] else {
                i += 1;
                continue;
            };
            let head = id.to_string();
            if !matches!(head.as_str(), "crate" | "super" | "self") {
                i += 1;
                continue;
            }
            let mut segments = vec![head];
            let mut j = i + 1;
            loop {
                let colons = matches!((&trees.get(j), &trees.get(j + 1)),
                    (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                        if a.as_char() == ':' && b.as_char() == ':');
                match (colons, trees.get(j + 2)) {
                    (true, Some(TokenTree::Ident(next))) => {
                        segments.push(next.to_string());
                        j += 3;
                    }
                    _ => break,
                }
            }
            if segments.len() > 1 {
                self.push(&segments);
            }
            i = j.max(i + 1);
        }
    }
}

impl<'ast> Visit<'ast> for Names {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            _ => &[],
        };
        if is_test_only(attrs) {
            return;
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if m.content.is_some() {
            self.here.push(m.ident.to_string());
            syn::visit::visit_item_mod(self, m);
            self.here.pop();
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if segments.len() > 1 {
            self.push(&segments);
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m);
    }
}

/// The file a module path lands in: its longest prefix that is a file (the root excluded).
fn resolve(files: &BTreeMap<ModPath, PathBuf>, path: &ModPath) -> Option<ModPath> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| files.contains_key(p))
}

/// Tarjan's strongly connected components of more than one node.
fn circles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct T<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on: BTreeSet<&'a ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    impl<'a> T<'a> {
        fn strong(&mut self, v: &'a ModPath) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.strong(w);
                    let lw = self.low[w];
                    let lv = self.low[v];
                    self.low.insert(v, lv.min(lw));
                } else if self.on.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low[v];
                    self.low.insert(v, lv.min(iw));
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    group.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.out.push(group);
                }
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            t.strong(v);
        }
    }
    t.out
}

#[test]
fn no_file_imports_another_that_imports_it_back() {
    let crates = workspace_root().join("crates");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&crates)
        .map(|rd| rd.flatten().map(|e| e.path().join("src")).collect())
        .unwrap_or_default();
    dirs.retain(|d| d.is_dir());
    dirs.sort();
    assert!(
        dirs.len() >= 5,
        "found the crates under {}",
        crates.display()
    );
    let mut report = Vec::new();
    let mut parsed = 0;
    for src in dirs {
        let mut paths = Vec::new();
        rust_files(&src, &mut paths);
        let files: BTreeMap<ModPath, PathBuf> = paths
            .into_iter()
            .map(|p| (module_of(&src, &p), p))
            .collect();
        let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
        for (module, path) in &files {
            let text = fs::read_to_string(path).unwrap_or_default();
            let ast = match syn::parse_file(&text) {
                Ok(ast) => ast,
                Err(e) => panic!("{} does not parse: {e}", path.display()),
            };
            parsed += 1;
            let mut names = Names {
                here: module.clone(),
                found: Vec::new(),
            };
            names.visit_file(&ast);
            let targets = edges.entry(module.clone()).or_default();
            for found in names.found {
                if let Some(t) = resolve(&files, &found) {
                    if &t != module && !t.is_empty() {
                        targets.insert(t);
                    }
                }
            }
        }
        for group in circles(&edges) {
            let names: Vec<String> = group
                .iter()
                .map(|m| {
                    files[m]
                        .strip_prefix(&crates)
                        .unwrap_or(&files[m])
                        .display()
                        .to_string()
                })
                .collect();
            report.push(names.join(", "));
        }
    }
    assert!(parsed > 100, "parsed {parsed} files");
    assert!(
        report.is_empty(),
        "import circles between files:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_check_finds_a_circle() {
    let a: ModPath = vec!["a".into()];
    let b: ModPath = vec!["b".into()];
    let c: ModPath = vec!["c".into()];
    let mut edges = BTreeMap::new();
    edges.insert(a.clone(), BTreeSet::from([b.clone()]));
    edges.insert(b.clone(), BTreeSet::from([a.clone(), c.clone()]));
    edges.insert(c.clone(), BTreeSet::new());
    assert_eq!(circles(&edges), vec![vec![a, b]]);

    let mut names = Names {
        here: vec!["x".into(), "y".into()],
        found: Vec::new(),
    };
    let file = syn::parse_file(
        "use super::z::Thing; use crate::{p::Q, r}; fn f() { tracing::info!(\"{}\", crate::s::t()); }",
    )
    .map_err(|e| e.to_string());
    names.visit_file(&file.unwrap_or_else(|e| panic!("{e}")));
    let want: Vec<ModPath> = vec![
        vec!["x".into(), "z".into(), "Thing".into()],
        vec!["p".into(), "Q".into()],
        vec!["r".into()],
        vec!["s".into(), "t".into()],
    ];
    assert_eq!(names.found, want);
}
