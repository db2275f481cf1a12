//! The core's modules have one direction (docs/DESIGN.md "Layers"): a module may use the
//! modules below it, never one above. This test reads every `crate::` path in `src/` and fails
//! on an upward (or sideways, within a layer) import, naming the file and line.

use std::path::{Path, PathBuf};

/// The layers, ground first. A module may use modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    &["crypto"],
    &["schema", "layout", "lock"],
    &["collections", "preflight"],
    &["ids"],
    &["report"],
    &["error"],
    &["backup"],
    &["parse"],
    &["maxage"],
    &["index"],
    &["sink"],
    &["merge"],
    &["transform"],
    &["pipeline"],
    &["inspect", "verify", "packages", "sample"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every module named after `crate::` on a line (`use crate::{a, b::c}` names both).
fn crate_refs(line: &str) -> Vec<String> {
    let mut refs = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::x, b}`: the first segment of each item (nested groups are not used).
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    refs.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            refs.push(name);
        }
    }
    refs
}

#[test]
fn no_module_imports_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut upward = Vec::new();
    let mut unknown = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" {
            continue; // the crate root declares and re-exports everything
        }
        let Some(mine) = layer_of(&top) else {
            unknown.push(format!("{}: module `{top}` has no layer", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue; // doc links do not make a dependency
            }
            for m in crate_refs(code) {
                if m == top {
                    continue;
                }
                match layer_of(&m) {
                    Some(theirs) if theirs < mine => {}
                    Some(_) => upward.push(format!(
                        "{}:{}: `{top}` uses `{m}`, which is not below it",
                        rel.display(),
                        n + 1
                    )),
                    None => unknown.push(format!(
                        "{}:{}: `crate::{m}` is no module with a layer",
                        rel.display(),
                        n + 1
                    )),
                }
            }
        }
    }
    assert!(unknown.is_empty(), "{}", unknown.join("\n"));
    assert!(upward.is_empty(), "{}", upward.join("\n"));
}

#[test]
fn the_reader_of_paths_finds_groups_and_single_paths() {
    assert_eq!(crate_refs("use crate::schema::Table;"), ["schema"]);
    assert_eq!(
        crate_refs("use crate::{ids::id_hash, schema};"),
        ["ids", "schema"]
    );
    assert_eq!(
        crate_refs("let x = crate::ids::a(crate::schema::b);"),
        ["ids", "schema"]
    );
    assert!(crate_refs("let x = 1;").is_empty());
}
