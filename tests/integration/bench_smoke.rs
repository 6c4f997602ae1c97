//! The read-path benchmark in its quick mode, so that it cannot rot unnoticed.

#[path = "../../benches/read_path.rs"]
mod read_path;

#[test]
fn the_read_path_benchmark_runs_and_ends_with_its_summary_line() {
    let summary = read_path::run(true, false).expect("benchmark runs");
    let (prefix, rest) = summary.split_once(": ").unwrap();
    assert_eq!(prefix, "worst ratio, views vs live-only at 90% deleted");
    let ratio: f64 = rest.split('x').next().unwrap().parse().unwrap();
    assert!(ratio > 0.0, "{summary}");
    assert!(rest.contains(" rows)"), "{summary}");
}
