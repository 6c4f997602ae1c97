//! docs/pitfalls.md names the tests behind each entry; every one must exist.

use std::path::Path;

#[test]
fn every_test_the_pitfalls_page_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("docs/pitfalls.md")).unwrap();
    let mut named = 0;
    let mut missing = Vec::new();
    for reference in page.split('`').filter(|s| {
        s.starts_with("tests/") && s.ends_with(|c: char| c.is_alphanumeric() || c == '_')
    }) {
        named += 1;
        match reference.split_once("::") {
            Some((file, test)) => {
                let source = std::fs::read_to_string(root.join(file)).unwrap_or_default();
                if !source.contains(&format!("fn {test}()")) {
                    missing.push(reference.to_owned());
                }
            }
            None if !root.join(reference).is_file() => missing.push(reference.to_owned()),
            None => {}
        }
    }
    assert!(named >= 30, "the page names only {named} tests");
    assert!(
        missing.is_empty(),
        "docs/pitfalls.md names tests that do not exist: {missing:?}"
    );
}

#[test]
fn every_pitfall_has_a_reproduction_and_a_resolution() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/pitfalls.md")).unwrap();
    for entry in page
        .split("\n## ")
        .skip(1)
        .filter(|e| e.starts_with(char::is_numeric))
    {
        let title = entry.lines().next().unwrap();
        assert!(
            entry.contains("- reproduction: `tests/"),
            "{title} has no reproduction"
        );
        assert!(
            entry.contains("- resolution: `tests/"),
            "{title} has no resolution"
        );
    }
}
