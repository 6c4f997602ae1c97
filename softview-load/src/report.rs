//! What a run measured: latencies and outcomes per operation, printed as a table.

use std::collections::BTreeMap;
use std::time::Duration;

/// The outcomes of one kind of operation.
#[derive(Default)]
pub struct OpStats {
    pub latencies: Vec<Duration>,
    /// How many calls ended in each error kind, expected ones included.
    pub errors: BTreeMap<String, u64>,
}

/// Every operation's outcomes, by name.
#[derive(Default)]
pub struct Stats {
    pub ops: BTreeMap<&'static str, OpStats>,
}

impl Stats {
    pub fn record(&mut self, op: &'static str, took: Duration, error: Option<String>) {
        let stats = self.ops.entry(op).or_default();
        stats.latencies.push(took);
        if let Some(kind) = error {
            *stats.errors.entry(kind).or_default() += 1;
        }
    }

    pub fn merge(&mut self, other: Stats) {
        for (op, theirs) in other.ops {
            let ours = self.ops.entry(op).or_default();
            ours.latencies.extend(theirs.latencies);
            for (kind, n) in theirs.errors {
                *ours.errors.entry(kind).or_default() += n;
            }
        }
    }

    /// The per-operation table: calls, calls per second, p50 and p99, and the error kinds.
    pub fn print(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let total: usize = self.ops.values().map(|s| s.latencies.len()).sum();
        println!(
            "{total} operations in {seconds:.1} s: {:.0} ops/s",
            total as f64 / seconds
        );
        println!(
            "{:<22} {:>8} {:>8} {:>9} {:>9}  errors",
            "operation", "calls", "ops/s", "p50", "p99"
        );
        for (op, stats) in &mut self.ops {
            stats.latencies.sort();
            let errors = if stats.errors.is_empty() {
                "-".to_owned()
            } else {
                stats
                    .errors
                    .iter()
                    .map(|(kind, n)| format!("{kind} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "{op:<22} {:>8} {:>8.0} {:>9} {:>9}  {errors}",
                stats.latencies.len(),
                stats.latencies.len() as f64 / seconds,
                millis(percentile(&stats.latencies, 50)),
                millis(percentile(&stats.latencies, 99)),
            );
        }
    }
}

/// The `p`th percentile of sorted durations (nearest rank).
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

pub fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
