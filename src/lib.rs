//! wardfeed: clean RSS 2.0, Atom 1.0 and JSON Feed feeds from Vietnamese ward and district
//! portals that publish none.
//!
//! # The order of the house
//!
//! Modules follow the data, one stage each, and a stage never names a later one:
//!
//! `config` → `fetch` → `extract` (HTML pages) / `ingest` (source feeds) → `sanitize` →
//! `store` → `render` → `serve`
//!
//! Extraction rules show how an earlier stage checks what a later one owns: `config` keeps a
//! template's or source's rules as written (`config::Rules`), and whoever loads a
//! configuration hands `config::parse` the checker (`extract::check_rules`), so a bad selector
//! fails at load with its file:line:col while config names no later stage. `extract` compiles
//! the rules (`extract::SiteRules::of`) once per `Rules`, kept beside them and shared by every
//! source holding the same `Arc` (all the sources that take a template's rules unchanged).
//!
//! The drivers chain them: `pipeline` (the only place where stages are chained, one refresh
//! of one source) and `schedule` (when each source refreshes), then `daemon` (scheduler and
//! server in one process, its configuration and signals given by the caller), then `cli`.
//!
//! Beside the chain, `suggest` proposes a source for a new portal from its pages: it reads
//! them through `fetch` and `extract`'s page bounds, and the cli checks what it proposes with
//! `config`.
//!
//! Every stage shares these leaves, which name no stage:
//! - `model`: the domain types that cross stage boundaries (items, ids, failures, validators);
//! - `clock`: time, injected wherever it matters;
//! - `normalize`: the text rules — clean text, canonical URLs, dates in a zone, XML-safe text
//!   (the normalising step itself runs in the pipeline, after extraction);
//! - `metrics`: the process's counters and their exposition;
//! - `charset`: the encodings a page, a feed or the configuration may name, and decoding them.
//!
//! `tests/imports.rs` reads every `crate::…` path under `src/` and fails on a back edge, a
//! cycle, a module this order does not place, or a mention of the `wardfeed-portal` crate
//! (the fixture world that only the binary's `demo` and the tests use).

pub mod charset;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod extract;
pub mod fetch;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod normalize;
pub mod pipeline;
pub mod render;
pub mod sanitize;
pub mod schedule;
pub mod serve;
pub mod store;
pub mod suggest;
