//! The two extra fixture sites (tests/fixtures/kinds): a listing filled from a JSON endpoint
//! and an ASP.NET WebForms listing paged by posting its form back, served by the portal crate
//! (which answers the POSTs) and scraped by their hand-written configuration, exactly.

mod common;

use std::path::{Path, PathBuf};

use common::score::{self, Score};
use common::{TruthItem, scrape_all};
use wardfeed::config::{self, Config};
use wardfeed_portal::{PortalServer, Snapshot};

pub const KIND_SITES: &[&str] = &["jsonward", "formward"];

fn kinds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kinds")
}

async fn serve_kinds() -> PortalServer {
    let snapshot = Snapshot::load_dir(&kinds_dir().join("sites")).expect("load kinds");
    PortalServer::start(snapshot).await.expect("start server")
}

fn kinds_truth(site: &str) -> Vec<TruthItem> {
    let path = kinds_dir().join(format!("expected/{site}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn kinds_config(server: &PortalServer) -> Config {
    let base = server.base_url();
    config::load(
        &kinds_dir().join("wardfeed.toml"),
        &move |name| (name == "FIXTURES_BASE").then(|| base.clone()),
        wardfeed::extract::check_rules,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_kinds_are_extracted_exactly_by_their_configuration() {
    let server = serve_kinds().await;
    let config = kinds_config(&server);
    let scrapes = scrape_all(&config).await;
    let mut report = vec![score::table_head()];
    let mut wrong = Vec::new();
    for site in KIND_SITES {
        let scrape = scrapes.iter().find(|s| s.source.as_str() == *site).unwrap();
        assert!(
            scrape.failures.is_empty(),
            "{site}: {:?}",
            scrape.failures.len()
        );
        let base = server.site_base(site);
        let path_of = |url: &str| url.strip_prefix(&base).unwrap_or(url).to_owned();
        let truth = kinds_truth(site);
        let result: Score = score::score(&scrape.items, &truth, &path_of, None);
        report.push(result.row(site));
        if !result.is_exact() {
            wrong.push(format!("{site}:\n{}", result.problems.join("\n")));
        }
    }
    println!("{}", report.join("\n"));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // The later pages were reached by posting the form back, with the page's own state.
    let posts: Vec<_> = server
        .request_log()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert!(
        posts
            .iter()
            .all(|p| p.site == "formward" && p.status == 200)
    );
    let argument = |i: usize| {
        posts[i]
            .form
            .iter()
            .find(|(n, _)| n == "__EVENTARGUMENT")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(argument(0).as_deref(), Some("Page$2"));
    assert_eq!(argument(1).as_deref(), Some("Page$3"));
}

#[tokio::test]
async fn a_post_with_the_wrong_state_is_refused() {
    let server = serve_kinds().await;
    let client = common::http_client();
    let url = format!("{}/TinTuc.aspx", server.site_base("formward"));
    let stale = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("__EVENTTARGET=ctl00%24ContentPlaceHolder1%24gvTinTuc&__EVENTARGUMENT=Page%242&__VIEWSTATE=stale")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 400);
    let json = client
        .post(format!("{}/tin-tuc", server.site_base("jsonward")))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 405);
}
