//! wardfeed: clean RSS 2.0, Atom 1.0 and JSON Feed feeds from Vietnamese ward and district
//! portals that publish none.
//!
//! Modules follow the data: `config` → `fetch` → `extract` (HTML) / `ingest` (source feeds) →
//! `normalize` → `sanitize`, chained by `pipeline`; `model` holds the types they exchange.

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
