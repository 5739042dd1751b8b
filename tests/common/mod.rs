//! Shared test support: the fixture world served on loopback, its configuration, and its truth.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use wardfeed::config::{self, Config, Source};
use wardfeed::fetch::Fetcher;
use wardfeed::pipeline::{self, SourceScrape};
use wardfeed::portal::{PortalServer, Snapshot};

pub const SITES: &[&str] = &["longbien", "phucloi", "phucdong", "bode", "thachban"];

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/portal")
}

pub fn snapshot(name: &str) -> Snapshot {
    Snapshot::load_dir(&fixtures_dir().join(name))
        .unwrap_or_else(|e| panic!("load snapshot {name}: {e}"))
}

/// A fixture server on 127.0.0.1:0 serving snapshot `name`.
pub async fn serve(name: &str) -> PortalServer {
    PortalServer::start(snapshot(name))
        .await
        .expect("start fixture server")
}

/// `config/fixtures.toml` pointed at `server`.
pub fn fixture_config(server: &PortalServer) -> Config {
    let base = server.base_url();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/fixtures.toml");
    config::load(&path, &move |name| match name {
        "FIXTURES_BASE" => Some(base.clone()),
        _ => None,
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

pub async fn scrape_all(config: &Config) -> Vec<SourceScrape> {
    let fetcher = Fetcher::new(&config.fetch).expect("fetcher");
    let sources: Vec<Arc<Source>> = config.sources.clone();
    futures_util::future::join_all(sources.iter().map(|s| pipeline::scrape_source(&fetcher, s)))
        .await
}

/// One item of `expected/sN/<site>.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct TruthItem {
    pub site: String,
    pub url_path: String,
    pub title: String,
    pub published: String,
    pub categories: Vec<String>,
    pub views: Option<u64>,
    pub summary: Option<String>,
    pub image_path: Option<String>,
    pub body_contains: Vec<String>,
    pub body_excludes: Vec<String>,
    pub article_status: u16,
}

pub fn truth(snapshot: &str, site: &str) -> Vec<TruthItem> {
    let path = fixtures_dir().join(format!("expected/{snapshot}/{site}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TruthSource {
    pub site: String,
    pub url_path: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TruthStory {
    pub title: String,
    pub published: String,
    pub sources: Vec<TruthSource>,
}

pub fn combined_truth(snapshot: &str) -> Vec<TruthStory> {
    let path = fixtures_dir().join(format!("expected/{snapshot}/combined.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// `url` made relative to the site's BASE, as the truth files write it.
pub fn url_path(server: &PortalServer, site: &str, url: &str) -> String {
    let base = server.site_base(site);
    url.strip_prefix(&base)
        .unwrap_or_else(|| panic!("{url} is not under {base}"))
        .to_owned()
}
