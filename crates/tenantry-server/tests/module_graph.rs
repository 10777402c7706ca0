//! The server's modules, and the library's, form no import cycle: every `crate::…` path in
//! `src/` (code, not comments) is an edge from the top-level module of its
//! file to the module it names, and the graph must be acyclic. The
//! composition root (`app`) and the CLI may depend on everything; nothing
//! may depend back on them, and no two services may lean on each other.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules named by `crate::` paths in `code`.
fn referenced(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::{c, d}, e}`: the first name of each item.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        rest = &group[i..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphabetic() || c == '_') => {
                        found.insert(identifier(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(identifier(rest));
        }
    }
    found
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The code of `text` without comments (doc links are not dependencies).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Module → the modules it uses, over `src/`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap();
        let module = first.as_os_str().to_str().unwrap().trim_end_matches(".rs");
        if module == "lib" || module == "main" {
            continue; // the crate root declares the modules
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let uses = graph.entry(module.to_owned()).or_default();
        uses.extend(referenced(&code).into_iter().filter(|m| m != module));
    }
    graph
}

/// A cycle in `graph`, as the path that closes it, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_server_modules_form_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    assert!(graph.contains_key("app") && graph.contains_key("services"));
    if let Some(cycle) = cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" → "));
    }
    for (module, uses) in &graph {
        for root in ["app", "cli"] {
            assert!(
                module == "cli" || !uses.contains(root),
                "{module} depends on the composition root `{root}`"
            );
        }
    }
}

#[test]
fn the_library_modules_form_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenantry/src");
    let graph = graph(&src);
    assert!(graph.contains_key("data") && graph.contains_key("registry"));
    if let Some(cycle) = cycle(&graph) {
        panic!("import cycle in the library: {}", cycle.join(" → "));
    }
    // The data layer is the floor the stores stand on: it names none of them.
    for store in [
        "registry", "config", "secrets", "deletion", "warm", "workflow", "moves", "jobs", "fence",
    ] {
        assert!(!graph["data"].contains(store), "data depends on {store}");
    }
    assert!(
        !graph["context"].contains("telemetry"),
        "the context knows a tracing backend"
    );
}

#[test]
fn the_checker_sees_grouped_imports_and_finds_cycles() {
    let found = referenced(
        "use crate::{api::{self, X}, config::Config};\nlet _ = crate::store::users::get;",
    );
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["api", "config", "store"]
    );
    assert!(referenced(&code_of("/// see [`crate::app`]\nfn f() {}")).is_empty());
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    graph.get_mut("c").unwrap().clear();
    assert_eq!(cycle(&graph), None);
}
