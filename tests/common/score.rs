//! Scoring extracted items against a truth file the way tests/fixtures/README.md ("Scoring a
//! scraper") says: items matched by URL path, precision and recall, then each field's share of
//! the matched items that have it right. Exact tests ask for 1.0 everywhere; `suggest` is held
//! to the thresholds.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use wardfeed::extract::html_text;
use wardfeed::model::Item;

use super::TruthItem;

/// The fields scored per matched item, in table order.
pub const FIELDS: &[&str] = &[
    "title",
    "published",
    "category",
    "views",
    "summary",
    "image",
    "status",
    "body",
];

#[derive(Debug, Clone, Default)]
pub struct Score {
    pub extracted: usize,
    pub expected: usize,
    pub matched: usize,
    /// Per field, how many matched items have it right.
    pub right: BTreeMap<&'static str, usize>,
    /// One line per difference.
    pub problems: Vec<String>,
}

impl Score {
    pub fn precision(&self) -> f64 {
        ratio(self.matched, self.extracted)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.matched, self.expected)
    }

    pub fn field(&self, name: &str) -> f64 {
        ratio(self.right.get(name).copied().unwrap_or(0), self.matched)
    }

    pub fn is_exact(&self) -> bool {
        self.problems.is_empty() && self.matched == self.expected && self.matched == self.extracted
    }

    /// Precision and recall at least `pr`, every field at least `field`.
    pub fn passes(&self, pr: f64, field: f64) -> bool {
        self.precision() >= pr
            && self.recall() >= pr
            && FIELDS.iter().all(|f| self.field(f) >= field)
    }

    /// One markdown table row: `| name | P | R | fields… |`.
    pub fn row(&self, name: &str) -> String {
        let mut row = format!(
            "| {name} | {}/{} | {:.2} | {:.2} |",
            self.matched,
            self.expected,
            self.precision(),
            self.recall()
        );
        for field in FIELDS {
            let _ = write!(row, " {:.2} |", self.field(field));
        }
        row
    }
}

/// The table head matching `Score::row`.
pub fn table_head() -> String {
    let mut head = String::from("| site | matched | precision | recall |");
    let mut rule = String::from("|---|---|---|---|");
    for field in FIELDS {
        let _ = write!(head, " {field} |");
        rule.push_str("---|");
    }
    format!("{head}\n{rule}")
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Scores `items` (whose URLs `path_of` makes relative to the site's BASE) against `truth`.
/// `category` is the truth category the items were read under (lower case): an item is right
/// in `category` when it carries it; the truth's other categories come from listings the
/// scrape did not read. Without it, the whole category list must match.
pub fn score(
    items: &[Item],
    truth: &[TruthItem],
    path_of: &dyn Fn(&str) -> String,
    category: Option<&str>,
) -> Score {
    let mut score = Score {
        extracted: items.len(),
        expected: truth.len(),
        ..Score::default()
    };
    let ours: BTreeMap<String, &Item> = items.iter().map(|i| (path_of(&i.url), i)).collect();
    if ours.len() != items.len() {
        score
            .problems
            .push(format!("duplicate URLs among {} items", items.len()));
        score.extracted = ours.len().max(1).min(items.len());
    }
    let expected: BTreeMap<&str, &TruthItem> =
        truth.iter().map(|t| (t.url_path.as_str(), t)).collect();
    for path in ours.keys().filter(|p| !expected.contains_key(p.as_str())) {
        score.problems.push(format!("extra item {path}"));
    }
    for (path, want) in &expected {
        let Some(got) = ours.get(*path) else {
            score.problems.push(format!("missing item {path}"));
            continue;
        };
        score.matched += 1;
        let ours_categories: Vec<String> =
            got.categories.iter().map(|c| c.to_lowercase()).collect();
        let category_right = match category {
            Some(c) => {
                ours_categories.iter().any(|o| o == c) && want.categories.iter().any(|w| w == c)
            }
            None => ours_categories == want.categories,
        };
        let html = got.content_html.clone().unwrap_or_default();
        let text = html_text(&html);
        let lacks: Vec<&String> = want
            .body_contains
            .iter()
            .filter(|s| !text.contains(s.as_str()))
            .collect();
        let includes: Vec<&String> = want
            .body_excludes
            .iter()
            .filter(|s| text.contains(s.as_str()) || html.contains(s.as_str()))
            .collect();
        let checks: [(&'static str, String, String); 8] = [
            ("title", got.title.clone(), want.title.clone()),
            (
                "published",
                got.published.map(|p| p.to_rfc3339()).unwrap_or_default(),
                want.published.clone(),
            ),
            (
                "category",
                format!(
                    "{ours_categories:?}{}",
                    if category_right { "" } else { " (wrong)" }
                ),
                if category_right {
                    format!("{ours_categories:?}")
                } else {
                    format!("{:?}", want.categories)
                },
            ),
            (
                "views",
                format!("{:?}", got.views),
                format!("{:?}", want.views),
            ),
            (
                "summary",
                format!("{:?}", got.summary),
                format!("{:?}", want.summary),
            ),
            (
                "image",
                format!("{:?}", got.image.as_deref().map(path_of)),
                format!("{:?}", want.image_path),
            ),
            (
                "status",
                format!("{:?}", got.article_status),
                format!("{:?}", Some(want.article_status)),
            ),
            (
                "body",
                format!("lacks {lacks:?}, includes {includes:?}"),
                "lacks [], includes []".to_owned(),
            ),
        ];
        for (name, got, want) in checks {
            if got == want {
                *score.right.entry(name).or_default() += 1;
            } else {
                score
                    .problems
                    .push(format!("{path}: {name}: got {got}, want {want}"));
            }
        }
    }
    score
}
