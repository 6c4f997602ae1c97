//! The integration tests, one binary (one link step, one throwaway server), by concern. Every
//! test gets a database of its own, cloned from a template with the example domain migrated.

mod archive;
mod archive_partitions;
mod bench_smoke;
mod common;
mod errors;
mod events;
mod faults;
mod generated;
mod identifiers;
mod indexes;
mod lifecycle;
mod link_triggers;
mod migrations;
mod names;
mod online;
mod pitfall_docs;
mod pitfalls;
mod preview;
mod purge;
mod races;
mod real_world;
mod refresh;
mod roles;
mod schedule;
mod toolkit;
mod tour;
mod undo;
mod versions;
mod views;
