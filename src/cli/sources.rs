//! `wardfeed sources`: what is configured — ids, names, groups, categories and feed addresses.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use super::{CommandResult, load_config, write_json};
use crate::config::Config;
use crate::serve::Site;

/// One source as `sources --json` prints it.
#[derive(Debug, Serialize)]
struct SourceJson<'a> {
    id: &'a str,
    name: &'a str,
    group: &'a str,
    group_name: &'a str,
    enabled: bool,
    home: &'a str,
    feeds: Feeds,
    categories: Vec<CategoryJson<'a>>,
}

#[derive(Debug, Serialize)]
struct CategoryJson<'a> {
    slug: &'a str,
    label: &'a str,
    feeds: Feeds,
}

#[derive(Debug, Serialize)]
struct Feeds {
    rss: String,
    atom: String,
    json: String,
}

/// The address feeds are served at: `[server] public_url`, else the listen address.
fn site(config: &Config) -> Site {
    let base = match &config.server.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => format!("http://{}", config.server.listen),
    };
    Site { base }
}

fn feeds(site: &Site, stem: &str) -> Feeds {
    let links = site.links(stem);
    Feeds {
        rss: links.rss,
        atom: links.atom,
        json: links.json,
    }
}

pub(super) fn sources(path: &Path, json: bool) -> CommandResult {
    let config = load_config(path)?;
    let site = site(&config);
    let listed: Vec<SourceJson> = config
        .sources
        .iter()
        .map(|source| SourceJson {
            id: source.id.as_str(),
            name: &source.name,
            group: &source.group,
            group_name: config.group_name(&source.group),
            enabled: source.enabled,
            home: source.home.as_str(),
            feeds: feeds(&site, source.id.as_str()),
            categories: source
                .categories
                .iter()
                .map(|c| CategoryJson {
                    slug: &c.slug,
                    label: &c.label,
                    feeds: feeds(&site, &format!("{}/{}", source.id, c.slug)),
                })
                .collect(),
        })
        .collect();
    if json {
        write_json(&listed)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for source in &listed {
        let disabled = if source.enabled { "" } else { " (disabled)" };
        out.push_str(&format!(
            "{}  {}{disabled}\n  group: {} ({})\n  home: {}\n  feed: {}  {}  {}\n",
            source.id,
            source.name,
            source.group,
            source.group_name,
            source.home,
            source.feeds.rss,
            source.feeds.atom,
            source.feeds.json
        ));
        for category in &source.categories {
            out.push_str(&format!(
                "  category {} ({}): {}\n",
                category.slug, category.label, category.feeds.rss
            ));
        }
    }
    out.push_str(&format!(
        "{} sources; every feed also at {}/feeds/all.rss, by group at {}/feeds/group/GROUP.rss\n",
        listed.len(),
        site.base,
        site.base
    ));
    use std::io::Write;
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .map_err(|e| super::Failure::runtime(format!("write output: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
