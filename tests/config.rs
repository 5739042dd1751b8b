//! Configuration loading: valid files resolve, every kind of mistake is located.
//!
//! Here rather than beside `src/config/`: config names no later stage, and these tests load
//! files as the program does, with extraction's check of selectors and patterns.

use std::path::Path;

use url::Url;
use wardfeed::config::{CategoryKind, Config, ConfigError, parse_schedule, slugify};
use wardfeed::extract::SiteRules;

fn parse(
    text: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    wardfeed::config::parse(text, file, lookup, wardfeed::extract::check_rules)
}

fn load(path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    wardfeed::config::load(path, lookup, wardfeed::extract::check_rules)
}

const GOOD: &str = r#"
[defaults]
schedule = "0 */15 * * * *"

[templates.portal.listing]
list = "div.news-list"
item = "div.news-item"
title = "h3 > a"
link = { selector = "h3 > a", attr = "href" }

[templates.portal.article]
body = "div.article-body"

[sources.phucloi]
name = "Phường Phúc Lợi"
group = "longbien"
base = "${BASE}/phucloi"
template = "portal"
drop_query_params = ["sid"]

[sources.phucloi.listing]
title = "h3.news-title > a"

[[sources.phucloi.categories]]
label = "Tin tức - Sự kiện"
listing = "/tin-tuc"

[[sources.phucloi.categories]]
label = "Tin RSS"
slug = "rss"
feed = "https://example.org/rss.xml"
"#;

fn env(name: &str) -> Option<String> {
    (name == "BASE").then(|| "http://127.0.0.1:9".to_owned())
}

fn parse_err(text: &str) -> String {
    parse(text, "wardfeed.toml", &env).unwrap_err().to_string()
}

/// `GOOD` with `from` replaced by `to` (which must occur exactly once).
fn good_with(from: &str, to: &str) -> String {
    assert_eq!(GOOD.matches(from).count(), 1, "{from:?}");
    GOOD.replace(from, to)
}

#[test]
fn a_good_config_resolves_templates_overrides_and_urls() {
    let config = parse(GOOD, "wardfeed.toml", &env).unwrap();
    let source = config.source("phucloi").unwrap();
    assert_eq!(source.group, "longbien");
    assert_eq!(source.base.as_str(), "http://127.0.0.1:9/phucloi");
    assert_eq!(source.home.as_str(), "http://127.0.0.1:9/phucloi/");
    assert_eq!(source.categories[0].slug, "tin-tuc-su-kien");
    assert_eq!(
        source.categories[0].kind,
        CategoryKind::Listing(Url::parse("http://127.0.0.1:9/phucloi/tin-tuc").unwrap())
    );
    assert_eq!(
        source.categories[1].kind,
        CategoryKind::Feed(Url::parse("https://example.org/rss.xml").unwrap())
    );
    let rules = SiteRules::of(&source.rules);
    assert!(rules.listing.list.is_some(), "template rule kept");
    assert!(rules.listing.fields.title.is_some(), "override applied");
    assert!(source.fetch_articles);
    assert_eq!(source.timezone, chrono_tz::Asia::Ho_Chi_Minh);
}

#[test]
fn a_bad_selector_names_file_line_column_and_key() {
    let text = good_with(r#"title = "h3.news-title > a""#, r#"title = "h3..a""#);
    let message = parse_err(&text);
    let line = text.lines().position(|l| l.contains("h3..a")).unwrap() + 1;
    assert_eq!(
        message,
        format!(
            "wardfeed.toml:{line}:9: sources.phucloi.listing.title: invalid CSS selector \"h3..a\": {}",
            message.rsplit_once(": ").unwrap().1
        )
    );
}

#[test]
fn a_bad_template_selector_is_reported_in_the_template() {
    let message = parse_err(&good_with(r#"item = "div.news-item""#, r#"item = "div[""#));
    assert!(
        message
            .starts_with("wardfeed.toml:7:8: templates.portal.listing.item: invalid CSS selector"),
        "{message}"
    );
}

#[test]
fn unknown_keys_are_located_at_the_key() {
    let message = parse_err(&good_with("drop_query_params", "drop_query_parms"));
    assert!(
        message.starts_with(
            "wardfeed.toml:19:1: sources.phucloi.drop_query_parms: unknown field `drop_query_parms`"
        ),
        "{message}"
    );
}

#[test]
fn wrong_types_missing_keys_and_bad_values_are_located() {
    let message = parse_err(&good_with(
        r#"schedule = "0 */15 * * * *""#,
        r#"schedule = 15"#,
    ));
    assert!(
        message.starts_with("wardfeed.toml:3:12: defaults.schedule: invalid type"),
        "{message}"
    );

    let message = parse_err(&good_with(
        r#"schedule = "0 */15 * * * *""#,
        r#"schedule = "every day""#,
    ));
    assert!(
        message.starts_with("wardfeed.toml:3:12: defaults.schedule: invalid cron expression"),
        "{message}"
    );

    let message = parse_err(&good_with("group = \"longbien\"\n", ""));
    assert!(
        message.contains("sources.phucloi: missing field `group`"),
        "{message}"
    );

    let message = parse_err(&good_with(
        r#"template = "portal""#,
        r#"template = "portl""#,
    ));
    assert!(
        message.contains("sources.phucloi.template: unknown template \"portl\" (defined: portal)"),
        "{message}"
    );

    let message = parse_err(&good_with(
        r#"listing = "/tin-tuc""#,
        "listing = \"/tin-tuc\"\nfeed = \"/rss\"",
    ));
    assert!(
        message.contains("sources.phucloi.categories[0]: set exactly one of"),
        "{message}"
    );

    let message = parse_err(&good_with(
        r#"base = "${BASE}/phucloi""#,
        r#"base = "ftp://x/phucloi""#,
    ));
    assert!(
        message.contains("sources.phucloi.base: invalid URL"),
        "{message}"
    );
}

#[test]
fn unset_environment_variables_are_located() {
    let message = parse_err(&good_with("${BASE}", "${NOT_SET}"));
    assert!(
        message.starts_with(
            "wardfeed.toml:17:8: sources.phucloi.base: environment variable NOT_SET is not set"
        ),
        "{message}"
    );
}

#[test]
fn syntax_errors_are_located() {
    let message = parse_err(&good_with(r#"group = "longbien""#, r#"group = "longbien"#));
    assert!(message.starts_with("wardfeed.toml:16:"), "{message}");
    assert!(message.contains("sources.phucloi.group"), "{message}");
}

#[test]
fn listing_sources_need_an_item_selector() {
    let message = parse_err(&good_with("template = \"portal\"\n", ""));
    assert!(
        message.contains("sources.phucloi: no listing.item selector"),
        "{message}"
    );
}

#[test]
fn five_field_cron_lines_are_accepted() {
    assert!(parse_schedule("*/30 * * * *").is_ok());
    assert!(parse_schedule("0 */30 * * * *").is_ok());
    assert!(parse_schedule("61 * * * *").is_err());
}

#[test]
fn slugs_come_from_labels() {
    assert_eq!(slugify("Tin tức - Sự kiện"), "tin-tuc-su-kien");
    assert_eq!(slugify("CÔNG TÁC ĐẢNG"), "cong-tac-dang");
}

#[test]
fn the_example_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let config = load(&path, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.sources.is_empty());
}

#[test]
fn the_fixture_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/fixtures.toml");
    let lookup = |name: &str| (name == "FIXTURES_BASE").then(|| "http://127.0.0.1:1".to_owned());
    let config = load(&path, &lookup).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = config.sources.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["longbien", "phucloi", "phucdong", "bode", "thachban"],
        "file order kept"
    );
}

#[test]
fn groups_have_display_names_and_a_table_for_no_group_is_an_error() {
    let named = format!("{GOOD}\n[groups.longbien]\nname = \" Long Biên \"\n");
    let config = parse(&named, "wardfeed.toml", &env).unwrap();
    assert_eq!(config.group_name("longbien"), "Long Biên");
    let unnamed = parse(GOOD, "wardfeed.toml", &env).unwrap();
    assert_eq!(
        unnamed.group_name("longbien"),
        "longbien",
        "the id stands in"
    );

    let typo = format!("{GOOD}\n[groups.longbein]\nname = \"Long Biên\"\n");
    let message = parse_err(&typo);
    assert!(
        message
            .starts_with("wardfeed.toml:33:9: groups.longbein: no source is in group \"longbein\""),
        "{message}"
    );
    assert!(message.contains("groups in use: longbien"), "{message}");
    let empty = format!("{GOOD}\n[groups.longbien]\nname = \" \"\n");
    assert!(parse_err(&empty).contains("groups.longbien.name: empty name"));
}

#[test]
fn cron_mistakes_are_said_truly_and_in_one_line() {
    let hour = parse_schedule("0 */30 25 * * *").unwrap_err();
    assert_eq!(
        hour,
        "invalid cron expression \"0 */30 25 * * *\": hour 25 is out of range: use 0 to 23"
    );
    for (expr, says) in [
        ("*/30 * * * * * * *", "8 fields; write 5"),
        (
            "0 0 0 32 * *",
            "day of month 32 is out of range: use 1 to 31",
        ),
        ("0 0 0 1 13 *", "month 13 is out of range: use 1 to 12"),
        (
            "0 */0 * * * *",
            "minute: the step in \"*/0\" must be a whole number above 0",
        ),
        ("0 9 * * 1", "day of week 1: write day names (MON-FRI, SUN)"),
        ("0 9 * * XYZ", "invalid cron expression \"0 9 * * XYZ\": "),
    ] {
        let message = parse_schedule(expr).unwrap_err();
        assert!(message.contains(says), "{expr}: {message}");
        assert!(
            !message.contains('\n') && !message.contains('^'),
            "{message}"
        );
    }
    assert!(parse_schedule("0 9 * * MON-FRI").is_ok());
    assert!(parse_schedule("0 0 23 * * *").is_ok(), "23 is an hour");
}

#[test]
fn every_mistake_is_reported_in_one_run() {
    let text = good_with(
        "[sources.phucloi]\nname = \"Phường Phúc Lợi\"",
        "[sources.phucloi]\nname = \"Phường Phúc Lợi\"\nschedul = \"0 */30 25 * * *\"\nmax_pages = \"ten\"",
    )
    .replace(r#"schedule = "0 */15 * * * *""#, r#"schedule = "0 */30 25 * * *""#)
    .replace(r#"title = "h3.news-title > a""#, r#"title = "h3..a""#)
        + "\n[sources.bode]\ngroup = \"longbien\"\nbase = \"ftp://x\"\nfetch_articles = false\n\
           [sources.bode.listing]\nitem = \"li\"\ntitle = \"a\"\n[[sources.bode.categories]]\nlabel = \"Tin\"\n\
           listing = \"/tin\"\n\n[server]\nlisten = \"nowhere\"\n";
    let error = parse(&text, "wardfeed.toml", &env).unwrap_err();
    let message = error.to_string();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines[0], "7 errors in wardfeed.toml:", "{message}");
    let keys: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(':').nth(3).unwrap().trim())
        .collect();
    assert_eq!(
        keys,
        [
            "defaults.schedule",
            "sources.phucloi.schedul",
            "sources.phucloi.max_pages",
            "sources.phucloi.listing.title",
            "sources.bode",
            "sources.bode.base",
            "server.listen",
        ],
        "{message}"
    );
    assert!(message.contains("hour 25 is out of range"), "{message}");
    assert!(
        message.contains("unknown field `schedul`: did you mean `schedule`?"),
        "{message}"
    );
    assert!(message.contains("missing field `name`"), "{message}");
    assert!(message.contains("only http and https"), "{message}");
    // Each line is `file:line:col: key: message`, in file order.
    let positions: Vec<(usize, usize)> = lines[1..]
        .iter()
        .map(|l| {
            let mut parts = l.split(':');
            assert_eq!(parts.next(), Some("wardfeed.toml"));
            (
                parts.next().unwrap().parse().unwrap(),
                parts.next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions, sorted);
    assert_eq!(error.count(), 7);
}

#[test]
fn unknown_keys_get_a_suggestion_only_when_one_is_close() {
    let close = parse_err(&good_with("drop_query_params", "drop_qeury_params"));
    assert!(
        close.contains("did you mean `drop_query_params`?"),
        "{close}"
    );
    let far = parse_err(&good_with("drop_query_params", "colour"));
    assert!(!far.contains("did you mean"), "{far}");
    assert!(far.contains("expected one of"), "{far}");
}

const JSON_SOURCE: &str = r#"
[sources.spa]
name = "Phường SPA"
group = "longbien"
base = "http://127.0.0.1:9/spa"

[sources.spa.json]
items = "/data/items"
title = "/title"
link = "/tin-tuc/{slug}-{id}.html"
date = { pointer = "/published", format = "%d/%m/%Y %H:%M" }
page_param = "page"

[sources.spa.article]
body = "div.body"

[[sources.spa.categories]]
label = "Tin tức"
listing_json = "/api/news?cat=3"
"#;

#[test]
fn a_json_listing_resolves_its_endpoint_and_rules() {
    let config = parse(JSON_SOURCE, "wardfeed.toml", &env).unwrap();
    let source = config.source("spa").unwrap();
    assert_eq!(
        source.categories[0].kind,
        CategoryKind::JsonListing(Url::parse("http://127.0.0.1:9/spa/api/news?cat=3").unwrap())
    );
    let rules = SiteRules::of(&source.rules);
    assert_eq!(rules.json.items.as_deref(), Some("/data/items"));
    assert!(rules.json.fields.link.is_some() && rules.json.fields.date.is_some());
    assert_eq!(
        rules.json.next,
        Some(wardfeed::extract::json::JsonNext::PageParam("page".into()))
    );
}

/// `JSON_SOURCE` with `from` replaced by `to` (which must occur exactly once).
fn json_with(from: &str, to: &str) -> String {
    assert_eq!(JSON_SOURCE.matches(from).count(), 1, "{from:?}");
    JSON_SOURCE.replace(from, to)
}

#[test]
fn json_listing_mistakes_are_located() {
    let err = |text: &str| parse(text, "wardfeed.toml", &env).unwrap_err().to_string();
    let message = err(&json_with(
        r#"items = "/data/items""#,
        r#"items = "data.items""#,
    ));
    assert!(
        message.starts_with(
            "wardfeed.toml:8:9: sources.spa.json.items: invalid JSON Pointer \"data.items\""
        ),
        "{message}"
    );
    let message = err(&json_with("{slug}-{id}", "{slug-{id}"));
    assert!(
        message.starts_with("wardfeed.toml:10:8: sources.spa.json.link: invalid template"),
        "{message}"
    );
    let message = err(&json_with(
        r#"format = "%d/%m/%Y %H:%M""#,
        r#"format = "%Q""#,
    ));
    assert!(
        message.contains("sources.spa.json.date: invalid date format \"%Q\""),
        "{message}"
    );
    let message = err(&json_with(
        r#"page_param = "page""#,
        "page_param = \"page\"\nnext = \"/next\"",
    ));
    assert!(
        message.contains("sources.spa.json.next: set at most one of"),
        "{message}"
    );
    let message = err(&json_with("link = \"/tin-tuc/{slug}-{id}.html\"\n", ""));
    assert!(
        message.contains("sources.spa: a category has listing_json but there is no json.link"),
        "{message}"
    );
    let message = err(&json_with(
        r#"listing_json = "/api/news?cat=3""#,
        "listing_json = \"/api/news?cat=3\"\nlisting = \"/tin-tuc\"",
    ));
    assert!(
        message.contains(
            "sources.spa.categories[0]: set exactly one of `listing` (an HTML page), `feed` (an RSS/Atom URL) or `listing_json`"
        ),
        "{message}"
    );
    let message = err(&json_with("title = \"/title\"", "titel = \"/title\""));
    assert!(
        message.contains("sources.spa.json.titel: unknown field `titel`"),
        "{message}"
    );
}

/// `page_param` beside `next_page` was silently ignored (finding 12): in one table it is a
/// located error; a source's paging replaces its template's, whichever way each pages.
#[test]
fn paging_is_set_one_way_and_a_source_replaces_its_templates() {
    let both = good_with(
        r#"link = { selector = "h3 > a", attr = "href" }"#,
        "link = { selector = \"h3 > a\", attr = \"href\" }\nnext_page = { selector = \"a.next\" }\npage_param = \"page\"",
    );
    let message = parse_err(&both);
    assert!(
        message.contains("templates.portal.listing.page_param: next_page is set too"),
        "{message}"
    );
    let template_links = good_with(
        r#"link = { selector = "h3 > a", attr = "href" }"#,
        "link = { selector = \"h3 > a\", attr = \"href\" }\nnext_page = { selector = \"a.next\" }",
    );
    let source_counts = template_links.replace(
        "title = \"h3.news-title > a\"",
        "title = \"h3.news-title > a\"\npage_param = \"p\"",
    );
    let config = parse(&source_counts, "wardfeed.toml", &env).unwrap();
    let rules = SiteRules::of(&config.source("phucloi").unwrap().rules);
    assert_eq!(rules.listing.page_param.as_deref(), Some("p"));
    assert!(
        rules.listing.next_page.is_none(),
        "the template's next_page is replaced"
    );
    let config = parse(&template_links, "wardfeed.toml", &env).unwrap();
    let rules = SiteRules::of(&config.source("phucloi").unwrap().rules);
    assert!(rules.listing.next_page.is_some());
}

#[test]
fn a_moved_portal_names_where_its_items_were_stored_before() {
    let text = good_with(
        "base = \"${BASE}/phucloi\"",
        "base = \"${BASE}/phucloi\"\nprevious_bases = [\"http://phucloi.old.vn\"]",
    );
    let config = parse(&text, "wardfeed.toml", &env).unwrap();
    let source = config.source("phucloi").unwrap();
    assert_eq!(
        source.earlier_locations("http://127.0.0.1:9/phucloi/tin/a-1.html#x"),
        [
            "https://127.0.0.1:9/phucloi/tin/a-1.html#x",
            "https://phucloi.old.vn/tin/a-1.html#x",
            "http://phucloi.old.vn/tin/a-1.html#x",
        ]
    );
    // Elsewhere on the host, only the other scheme: http and https are one site.
    assert_eq!(
        source.earlier_locations("http://127.0.0.1:9/phucloiX/a"),
        ["https://127.0.0.1:9/phucloiX/a"]
    );
    assert!(source.earlier_locations("guid:917").is_empty());

    let error = parse_err(&good_with(
        "base = \"${BASE}/phucloi\"",
        "base = \"${BASE}/phucloi\"\nprevious_bases = [\"ftp://old\"]",
    ));
    assert!(
        error.contains("sources.phucloi.previous_bases[0]"),
        "{error}"
    );
}

/// A thousand wards on one portal software compile its rules once (issue 14: every source
/// held its own copy of its template's regexes, each with its own cache).
#[test]
fn sources_that_take_their_templates_rules_share_one_compiled_copy() {
    let mut text = GOOD.to_owned();
    for id in ["bode", "thachban"] {
        text.push_str(&format!(
            "\n[sources.{id}]\nname = \"{id}\"\ngroup = \"longbien\"\nbase = \"${{BASE}}/{id}\"\n\
             template = \"portal\"\n\n[[sources.{id}.categories]]\nlabel = \"Tin tức\"\n\
             listing = \"/tin-tuc\"\n"
        ));
    }
    let config = parse(&text, "wardfeed.toml", &env).unwrap();
    let rules = |id: &str| SiteRules::of(&config.source(id).unwrap().rules);
    assert!(std::sync::Arc::ptr_eq(&rules("bode"), &rules("thachban")));
    assert!(std::sync::Arc::ptr_eq(
        &rules("bode"),
        &SiteRules::of(&config.templates["portal"])
    ));
    // phucloi writes its own title: its rules are its own, over the template's.
    assert!(!std::sync::Arc::ptr_eq(&rules("bode"), &rules("phucloi")));
    assert!(rules("phucloi").listing.list.is_some());
}

/// `GOOD` with more sources (each with one category, on the portal template) appended.
fn good_plus(extra: &[(&str, &str)]) -> String {
    let mut text = GOOD.to_owned();
    for (id, keys) in extra {
        text.push_str(&format!(
            "\n[sources.{id}]\nname = \"{id}\"\ngroup = \"longbien\"\nbase = \"${{BASE}}/{id}\"\ntemplate = \"portal\"\n{keys}\n\n[[sources.{id}.categories]]\nlabel = \"Tin\"\nlisting = \"/tin\"\n"
        ));
    }
    text
}

#[test]
fn merged_into_names_a_source_and_never_goes_round() {
    let config = parse(
        &good_plus(&[
            ("giang", "merged_into = \"phucloi\""),
            ("cu", "merged_into = \"giang\""),
        ]),
        "wardfeed.toml",
        &env,
    )
    .unwrap();
    let id = |s: &str| wardfeed::model::SourceId::parse(s).unwrap();
    assert_eq!(
        config.merged_target(&id("cu")).map(|s| s.id.as_str()),
        Some("phucloi"),
        "a chain ends at its last source"
    );
    assert!(config.merged_target(&id("phucloi")).is_none());
    let merged: Vec<&str> = config
        .merged_sources(&id("phucloi"))
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(merged, ["giang", "cu"]);

    let error = parse_err(&good_plus(&[("giang", "merged_into = \"nowhere\"")]));
    assert!(
        error.contains("sources.giang.merged_into") && error.contains("no source \"nowhere\""),
        "{error}"
    );
    let error = parse_err(&good_plus(&[("giang", "merged_into = \"giang\"")]));
    assert!(error.contains("merged into itself"), "{error}");
    let error = parse_err(&good_plus(&[
        ("giang", "merged_into = \"cu\""),
        ("cu", "merged_into = \"giang\""),
    ]));
    assert!(
        error.contains("sources.giang.merged_into")
            && error.contains("sources.cu.merged_into")
            && error.contains("giang → cu → giang"),
        "{error}"
    );
}
