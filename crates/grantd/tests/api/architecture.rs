//! The module graph, read from grantd's own source: the domain has no import
//! cycles, and each layer imports only the layers below it. A newcomer who
//! adds `use crate::domain::Grantd` inside the domain, or a storage module
//! that reaches for a domain type, learns it here rather than in review.
//!
//! Every path in non-test code counts (`use` trees, types, expressions,
//! macros excepted): `crate::…`, `super::…`, `self::…` and paths that start
//! with a child module's name. A path points at the longest module prefix it
//! names; an item re-exported by a `mod.rs` therefore points at that
//! `mod.rs`, which is why code inside the domain imports from the module that
//! defines an item.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

type Module = Vec<String>;

/// Every `.rs` file under `src/`, by module path (`["crate", "domain", "model"]`).
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    files
        .into_iter()
        .filter_map(|file| {
            let rel = file.strip_prefix(src).unwrap().with_extension("");
            let mut module: Module = vec!["crate".into()];
            module.extend(rel.iter().map(|p| p.to_string_lossy().into_owned()));
            match module.last().map(String::as_str) {
                Some("main") => return None,
                Some("lib") | Some("mod") => {
                    module.pop();
                }
                _ => {}
            }
            Some((module, file))
        })
        .collect()
}

/// Collects the paths of one file, skipping `#[cfg(test)]` items.
struct Paths {
    found: Vec<Vec<String>>,
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

fn use_paths(prefix: &mut Vec<String>, tree: &syn::UseTree, out: &mut Vec<Vec<String>>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(prefix, &p.tree, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut path = prefix.clone();
            if n.ident != "self" {
                path.push(n.ident.to_string());
            }
            out.push(path);
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            out.push(path);
        }
        syn::UseTree::Glob(_) => out.push(prefix.clone()),
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                use_paths(prefix, tree, out);
            }
        }
    }
}

impl<'ast> Visit<'ast> for Paths {
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
        if let syn::Item::Use(u) = item {
            use_paths(&mut Vec::new(), &u.tree, &mut self.found);
            return;
        }
        syn::visit::visit_item(self, item);
    }

    /// `pub(in crate::domain)` names who may see an item, not a dependency.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.found
            .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }
}

/// Which module a path in `from` points at, if it points into this crate.
fn resolve(from: &Module, path: &[String], known: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    let mut full: Module = match path.first().map(String::as_str) {
        Some("crate") => vec!["crate".into()],
        Some("super") => {
            let mut base = from.clone();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            return longest_module(base, known);
        }
        Some("self") => from.clone(),
        Some(first) => {
            // A path relative to this module: only a child module's name counts.
            let mut child = from.clone();
            child.push(first.to_string());
            if !known.contains_key(&child) {
                return None;
            }
            from.clone()
        }
        None => return None,
    };
    let skip = usize::from(matches!(path[0].as_str(), "crate" | "self"));
    full.extend(path[skip..].iter().cloned());
    longest_module(full, known)
}

fn longest_module(mut path: Module, known: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    while !path.is_empty() {
        if known.contains_key(&path) {
            return Some(path);
        }
        path.pop();
    }
    None
}

/// module → the modules its non-test code names.
fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    let mut graph = BTreeMap::new();
    for (module, file) in &known {
        let text = std::fs::read_to_string(file).unwrap();
        let parsed = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        let mut paths = Paths { found: Vec::new() };
        paths.visit_file(&parsed);
        let targets: BTreeSet<Module> = paths
            .found
            .iter()
            .filter_map(|p| resolve(module, p, &known))
            .filter(|target| target != module)
            .collect();
        graph.insert(module.clone(), targets);
    }
    graph
}

fn name(module: &Module) -> String {
    module.join("::")
}

/// The strongly connected components of more than one module (Tarjan).
fn cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'g> {
        graph: &'g BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'g Module, usize>,
        low: BTreeMap<&'g Module, usize>,
        stack: Vec<&'g Module>,
        on_stack: BTreeSet<&'g Module>,
        next: usize,
        found: Vec<Vec<Module>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g Module) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let Some((w, _)) = s.graph.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.found
}

fn under(module: &Module, prefix: &[&str]) -> bool {
    module.len() >= prefix.len() && module.iter().zip(prefix).all(|(a, b)| a == b)
}

#[test]
fn the_domain_module_graph_has_no_cycles() {
    let domain: BTreeMap<Module, BTreeSet<Module>> = graph()
        .into_iter()
        .filter(|(m, _)| under(m, &["crate", "domain"]))
        .map(|(m, targets)| {
            let inside = targets
                .into_iter()
                .filter(|t| under(t, &["crate", "domain"]))
                .collect();
            (m, inside)
        })
        .collect();
    assert!(
        domain.len() > 20,
        "the walk found only {} domain modules",
        domain.len()
    );
    let found = cycles(&domain);
    let report: Vec<String> = found
        .iter()
        .map(|component| {
            let edges: Vec<String> = component
                .iter()
                .flat_map(|m| {
                    domain[m]
                        .iter()
                        .filter(|t| component.contains(t))
                        .map(move |t| format!("  {} -> {}", name(m), name(t)))
                })
                .collect();
            format!("a cycle through:\n{}", edges.join("\n"))
        })
        .collect();
    assert!(
        found.is_empty(),
        "import from the module that defines an item, not through a mod.rs \
         that re-exports it, and move shared types down a layer:\n{}",
        report.join("\n")
    );
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    // (layer, the top-level modules it must never name)
    let rules: &[(&str, &[&str])] = &[
        ("domain", &["http", "app", "cli", "telemetry"]),
        ("storage", &["domain", "http", "app", "cli"]),
        ("secrets", &["domain", "http", "storage", "app", "cli"]),
        // The stored vocabulary sits below domain and storage, which share it.
        (
            "vocab",
            &["domain", "http", "storage", "secrets", "app", "cli"],
        ),
        ("http", &["cli", "storage"]),
    ];
    let mut violations = Vec::new();
    for (module, targets) in graph() {
        for (layer, forbidden) in rules {
            if !under(&module, &["crate", layer]) {
                continue;
            }
            for target in &targets {
                if forbidden.iter().any(|f| under(target, &["crate", f])) {
                    violations.push(format!("{} -> {}", name(&module), name(target)));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layer violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    let m = |s: &str| -> Module { s.split("::").map(String::from).collect() };
    let mut graph = BTreeMap::new();
    graph.insert(m("crate::a"), BTreeSet::from([m("crate::b")]));
    graph.insert(m("crate::b"), BTreeSet::from([m("crate::c")]));
    graph.insert(m("crate::c"), BTreeSet::from([m("crate::a")]));
    graph.insert(m("crate::d"), BTreeSet::from([m("crate::a")]));
    assert_eq!(
        cycles(&graph),
        vec![vec![m("crate::a"), m("crate::b"), m("crate::c")]]
    );
    // and resolves the path forms grantd uses
    let known: BTreeMap<Module, PathBuf> = [
        "crate",
        "crate::domain",
        "crate::domain::model",
        "crate::domain::oauth",
        "crate::domain::oauth::token",
    ]
    .iter()
    .map(|s| (m(s), PathBuf::new()))
    .collect();
    let from = m("crate::domain::oauth::token");
    let p = |s: &str| -> Vec<String> { s.split("::").map(String::from).collect() };
    assert_eq!(
        resolve(&from, &p("super::super::model::Token"), &known),
        Some(m("crate::domain::model"))
    );
    assert_eq!(
        resolve(&from, &p("crate::domain::Grantd"), &known),
        Some(m("crate::domain"))
    );
    assert_eq!(
        resolve(&m("crate::domain::oauth"), &p("token::TokenClient"), &known),
        Some(m("crate::domain::oauth::token"))
    );
    assert_eq!(resolve(&from, &p("std::sync::Arc"), &known), None);
}
