//! The import graph of the library: read from the `crate::…` paths of every file under `src/`
//! (the binary in `src/bin/` aside), it has no cycle, no stage names a later stage, and
//! nothing names the portal crate. The order is the one `src/lib.rs` documents.
//!
//! `WARDFEED_IMPORTS_ROOT=DIR` checks another checkout's `src/` instead (to see what an old
//! tree breaks).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every top-level module of the library with its rank: a module may name modules of a lower
/// rank, and of its own rank only where the graph stays free of cycles. Leaves (rank 0) are
/// shared by every stage.
const RANKS: &[(&str, u32)] = &[
    // Shared leaves: domain types, time, the text rules (clean text, canonical URLs, dates,
    // XML-safe text), instrumentation, character encodings.
    ("model", 0),
    ("clock", 0),
    ("normalize", 0),
    ("metrics", 0),
    ("charset", 0),
    // The stages, in the order data flows.
    ("config", 1),
    ("fetch", 2),
    ("extract", 3),
    ("ingest", 3),
    ("sanitize", 4),
    // Proposes a source from a portal's pages: reads them through fetch and extract's bounds.
    ("suggest", 4),
    ("store", 5),
    ("render", 6),
    ("serve", 7),
    // The drivers.
    ("pipeline", 8),
    ("schedule", 8),
    ("daemon", 9),
    ("cli", 10),
];

/// Earlier stages a stage still must not name (house style): the sanitiser is the pipeline's
/// last step before the store, not a library for the renderers.
const FORBIDDEN: &[(&str, &str)] = &[("render", "sanitize"), ("serve", "sanitize")];

/// One `crate::module` reference: who names whom, and where.
#[derive(Debug, Clone)]
struct Edge {
    from: String,
    to: String,
    at: String,
}

fn src_root() -> PathBuf {
    match std::env::var_os("WARDFEED_IMPORTS_ROOT") {
        Some(root) => PathBuf::from(root).join("src"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    }
}

/// The library's files (not the binary's), with the top-level module each belongs to.
fn library_files(src: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    let mut stack = vec![src.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(src).unwrap().to_owned();
            let first = relative
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                if first != "bin" {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || first == "main.rs" {
                continue;
            }
            let module = first.trim_end_matches(".rs").to_owned();
            files.push((module, path));
        }
    }
    files.sort();
    files
}

/// The text without comments, so that prose mentioning `crate::x` counts for nothing.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a file names: `crate::x…` paths and the groups of `use crate::{…}`.
fn named_modules(code: &str) -> Vec<(String, usize)> {
    let mut named = Vec::new();
    let line_of = |offset: usize| code[..offset].matches('\n').count() + 1;
    let mut rest = 0;
    while let Some(found) = code[rest..].find("crate::") {
        let start = rest + found;
        rest = start + "crate::".len();
        // `wardfeed_crate::` or `my_crate::` are other names.
        if code[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let after = &code[rest..];
        if let Some(group) = after.strip_prefix('{') {
            // `use crate::{a, b::c, d::{e, f}}`: the names at the group's own depth.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        push_head(&mut named, &item, line_of(start));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            push_head(&mut named, &item, line_of(start));
        } else {
            push_head(&mut named, after, line_of(start));
        }
    }
    named
}

fn push_head(named: &mut Vec<(String, usize)>, path: &str, line: usize) {
    let head: String = path
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !head.is_empty() && head != "self" {
        named.push((head, line));
    }
}

fn edges(src: &Path) -> Vec<Edge> {
    let mut edges = Vec::new();
    for (module, path) in library_files(src) {
        if module == "lib" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&path).unwrap());
        for (to, line) in named_modules(&code) {
            if to != module {
                edges.push(Edge {
                    from: module.clone(),
                    to,
                    at: format!("{}:{line}", path.strip_prefix(src).unwrap().display()),
                });
            }
        }
    }
    edges
}

/// Every way the graph breaks the order: unknown modules, back edges, cycles.
fn violations(src: &Path) -> Vec<String> {
    let ranks: BTreeMap<&str, u32> = RANKS.iter().copied().collect();
    let edges = edges(src);
    let mut problems = Vec::new();
    let modules: BTreeSet<String> = library_files(src)
        .into_iter()
        .map(|(module, _)| module)
        .filter(|module| module != "lib")
        .collect();
    for module in &modules {
        if !ranks.contains_key(module.as_str()) {
            problems.push(format!(
                "module {module} has no place in the order (add it to RANKS and to src/lib.rs)"
            ));
        }
    }
    for edge in &edges {
        let (Some(from), Some(to)) = (ranks.get(edge.from.as_str()), ranks.get(edge.to.as_str()))
        else {
            continue;
        };
        let pair = (edge.from.as_str(), edge.to.as_str());
        if to > from {
            problems.push(format!(
                "{}: {} (rank {from}) names {}, a later stage (rank {to})",
                edge.at, edge.from, edge.to
            ));
        }
        if FORBIDDEN.contains(&pair) {
            problems.push(format!(
                "{}: {} must not name {}",
                edge.at, edge.from, edge.to
            ));
        }
    }
    // Cycles, among modules of one rank too.
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for edge in &edges {
        graph.entry(&edge.from).or_default().insert(&edge.to);
    }
    for cycle in cycles(&graph) {
        problems.push(format!("cycle: {}", cycle.join(" → ")));
    }
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    for (module, path) in library_files(src) {
        let code = code_of(&std::fs::read_to_string(&path).unwrap());
        if code.contains("wardfeed_portal") {
            problems.push(format!(
                "{}: the library names the portal crate",
                path.strip_prefix(src).unwrap().display()
            ));
        }
        if module != "lib" && !lib.contains(&format!("`{module}`")) {
            problems.push(format!("src/lib.rs does not place `{module}` in the order"));
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

/// The cycles of `graph`, each once, as module paths that return to their start.
fn cycles<'a>(graph: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<Vec<&'a str>> {
    fn walk<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        found: &mut BTreeSet<Vec<&'a str>>,
    ) {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle = path[at..].to_vec();
            // One spelling per cycle: rotated to start at its smallest module.
            let least = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap();
            cycle.rotate_left(least);
            cycle.push(cycle[0]);
            found.insert(cycle);
            return;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            walk(next, graph, path, found);
        }
        path.pop();
    }
    let mut found = BTreeSet::new();
    for node in graph.keys() {
        walk(node, graph, &mut Vec::new(), &mut found);
    }
    found.into_iter().collect()
}

#[test]
fn no_stage_imports_a_later_one_and_the_graph_has_no_cycle() {
    let src = src_root();
    let problems = violations(&src);
    assert!(
        problems.is_empty(),
        "{} import problems in {}:\n{}",
        problems.len(),
        src.display(),
        problems.join("\n")
    );
}

#[test]
fn the_reader_sees_every_form_of_path() {
    let code = code_of(
        "use crate::config::{self, Config};\n\
         use crate::{fetch::Crawler, store::{Store, StoreError}};\n\
         // crate::render is only mentioned here\n\
         let x = crate::serve::route_label(p);\n\
         use wardfeed_crate::nothing;\n",
    );
    let named: Vec<String> = named_modules(&code).into_iter().map(|(m, _)| m).collect();
    assert_eq!(named, ["config", "fetch", "store", "serve"]);
}

#[test]
fn back_edges_and_cycles_are_found() {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    graph.entry("config").or_default().insert("store");
    graph.entry("store").or_default().insert("fetch");
    graph.entry("fetch").or_default().insert("config");
    assert_eq!(cycles(&graph), [vec!["config", "store", "fetch", "config"]]);
}
