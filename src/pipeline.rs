//! The refresh of one source: the only place where stages are chained.
//!
//! fetch → extract (HTML listings) / ingest (source feeds) → merge by canonical URL → fetch
//! articles → extract article → normalise into `Item`s → sanitise (always last). A failing
//! listing is recorded and the rest of the source still runs; nothing here is fatal.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, FixedOffset};
use indexmap::IndexMap;
use url::Url;

use crate::charset::Charset;
use crate::config::{CategoryKind, Source};
use crate::extract::{self, Article, ExtractError, FieldWarning, ListingPage, SiteRules};
use crate::fetch::{Crawler, FetchError, Fetched};
use crate::ingest::{self, FeedRequest, IngestError};
use crate::model::identity::{Decided, Sighting, identities};
use crate::model::{ErrorKind, Item, ItemKey, ItemWarning, SourceId};
use crate::normalize::date::{DateContext, ParsedDate, in_zone};
use crate::normalize::{canonical_url, fold_case};
use crate::sanitize;
use crate::store::{HealthError, Incident, IngestReport, RunOutcome, Store, StoreError};

/// Entries kept per listing or feed and refresh, over all its pages: a listing of 190,000
/// items is read up to here, with a warning, instead of holding (and fetching) them all.
pub const MAX_ENTRIES_PER_LISTING: usize = 1_000;
/// Article pages fetched per refresh of a source; the items past it keep what the listing gave
/// and what the ledger already has, with a warning.
pub const MAX_ARTICLES_PER_REFRESH: usize = 1_000;
/// Article text (HTML, before sanitising) one refresh may gather; past it, articles are no
/// longer fetched. Bounds a refresh's memory whatever the portal sends.
pub const REFRESH_BODY_BUDGET: usize = 32 * 1024 * 1024;
/// What one item may store; longer text is cut, with a warning. Real titles are under 300
/// characters and article bodies under 100 KB.
pub const MAX_TITLE_CHARS: usize = 1_000;
pub const MAX_SUMMARY_CHARS: usize = 5_000;
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Runs CPU-bound work (decoding, parsing, extraction, sanitising) on a blocking thread, at
/// most `available cores − 1` (at least two) at once, so that a hostile page costs one of those
/// threads and never the async workers that serve HTTP, feed the watchdog and take signals.
async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    static PERMITS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.saturating_sub(1).max(2))
    });
    let _permit = PERMITS.acquire().await;
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        // A panic stays a panic of the refresh (the scheduler catches it and backs off).
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("extraction stopped: {error}"),
        },
    }
}

/// The store takes one writer at a time (engine transactions behind its write lock). Refreshes
/// queue here, as futures, for the one blocking thread that writes: a thread per refresh, each
/// parked on the lock with its own heap, piled up to tokio's 512 blocking threads at 1,000
/// sources (831 MiB peak; BENCHMARKS.md, "Scale"). tokio's semaphore is fair: first come,
/// first written.
static STORE_WRITER: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
/// Refreshes inside the store's blocking section now, and the most there ever were at once.
static STORE_WRITERS_BUSY: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static STORE_WRITERS_PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Refreshes waiting for their turn to write (the queue's length).
static STORE_WRITES_WAITING: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// The most refreshes that were ever inside the store's blocking section at once in this
/// process (1 while writers queue: the test of the queue, and a figure for benchmarks).
pub fn store_writers_peak() -> usize {
    STORE_WRITERS_PEAK.load(std::sync::atomic::Ordering::Relaxed)
}

/// Refreshes waiting now for their turn to write to the store.
pub fn store_writes_waiting() -> usize {
    STORE_WRITES_WAITING.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs `work` (the refresh's store part) on a blocking thread once it is this refresh's turn.
async fn in_store_turn<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    use std::sync::atomic::Ordering::Relaxed;
    STORE_WRITES_WAITING.fetch_add(1, Relaxed);
    let turn = STORE_WRITER.acquire().await;
    STORE_WRITES_WAITING.fetch_sub(1, Relaxed);
    // The semaphore is never closed.
    let _turn = turn.map_err(|e| StoreError::Task(e.to_string()))?;
    struct Busy;
    impl Drop for Busy {
        fn drop(&mut self) {
            STORE_WRITERS_BUSY.fetch_sub(1, Relaxed);
        }
    }
    tokio::task::spawn_blocking(move || {
        let busy = STORE_WRITERS_BUSY.fetch_add(1, Relaxed) + 1;
        let _busy = Busy;
        STORE_WRITERS_PEAK.fetch_max(busy, Relaxed);
        work()
    })
    .await
    .map_err(|e| StoreError::Task(e.to_string()))?
}

/// Why one listing or feed of a source produced nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

impl StageError {
    /// The failure class the dashboard and incident feed show.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StageError::Fetch(error) => error.kind(),
            StageError::Extract(error) => error.kind(),
            StageError::Ingest(error) => error.kind(),
        }
    }
}

impl StageError {
    /// How long the server asked us to stay away, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            StageError::Fetch(error) => error.retry_after(),
            _ => None,
        }
    }
}

/// A listing or feed that failed, by category slug.
#[derive(Debug, Clone)]
pub struct ListingFailure {
    pub category: String,
    pub error: StageError,
}

/// What one category's listing (or feed) yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingReport {
    pub category: String,
    pub pages: usize,
    pub entries: usize,
}

impl ListingReport {
    fn new(category: &str) -> ListingReport {
        ListingReport {
            category: category.to_owned(),
            pages: 0,
            entries: 0,
        }
    }
}

/// Everything one refresh of a source produced.
#[derive(Debug, Clone)]
pub struct SourceScrape {
    pub source: SourceId,
    /// Items sorted by publication time, newest first, then by URL.
    pub items: Vec<Item>,
    pub failures: Vec<ListingFailure>,
    pub listings: Vec<ListingReport>,
    pub warnings: Vec<ItemWarning>,
}

impl SourceScrape {
    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }
}

/// An item while it is being assembled from listings, feeds and its article page.
struct Draft {
    /// The link as the source gave it: the URL to fetch the article from.
    link: Option<Url>,
    /// Its URL and identity, as the identity rule decided them in its document.
    decided: Decided,
    guid: Option<String>,
    title: Option<String>,
    published: Option<ParsedDate>,
    /// Slugs of the configured categories the item appeared in.
    categories: Vec<String>,
    /// Category names the pages themselves printed.
    shown_categories: Vec<String>,
    views: Option<u64>,
    summary: Option<String>,
    image: Option<Url>,
    feed_content: Option<String>,
    warnings: Vec<FieldWarning>,
}

impl Draft {
    /// Fills what this draft lacks from another sighting of the same item.
    fn absorb(&mut self, other: Draft) {
        self.link = self.link.take().or(other.link);
        self.guid = self.guid.take().or(other.guid);
        self.title = self.title.take().or(other.title);
        self.published = refine(self.published, other.published);
        self.views = self.views.or(other.views);
        self.summary = self.summary.take().or(other.summary);
        self.image = self.image.take().or(other.image);
        self.feed_content = self.feed_content.take().or(other.feed_content);
        for slug in other.categories {
            if !self.categories.contains(&slug) {
                self.categories.push(slug);
            }
        }
        self.shown_categories.extend(other.shown_categories);
        self.warnings.extend(other.warnings);
        for earlier in other.decided.identity.earlier {
            if !self.decided.identity.earlier.contains(&earlier) {
                self.decided.identity.earlier.push(earlier);
            }
        }
    }
}

/// One document's entries, as the identity rule sees them: each link canonical and without
/// its fragment, the fragment apart.
fn sightings<'a>(
    links: &'a [(Option<Url>, Option<Url>)],
    guids: impl Iterator<Item = Option<&'a str>>,
    earlier: impl Iterator<Item = Option<Option<&'a str>>>,
) -> Vec<Sighting<'a>> {
    links
        .iter()
        .zip(guids.zip(earlier))
        .map(|((canonical, link), (guid, earlier))| Sighting {
            canonical: canonical.as_ref().map(Url::as_str),
            fragment: link
                .as_ref()
                .and_then(Url::fragment)
                .filter(|f| !f.is_empty()),
            guid,
            earlier,
        })
        .collect()
}

/// The first reading of a date, made more precise by a later one (a listing's date alone, the
/// article page's time on that day).
fn refine(first: Option<ParsedDate>, later: Option<ParsedDate>) -> Option<ParsedDate> {
    match (first, later) {
        (Some(first), Some(later)) => Some(first.refined_by(later)),
        (first, later) => first.or(later),
    }
}

/// The wall time of a refresh as it goes: relative dates ("2 giờ trước") count back from when
/// their page was fetched, which is the refresh's start (from the injected clock) plus the
/// time spent since.
#[derive(Debug, Clone, Copy)]
struct FetchClock {
    started_at: DateTime<FixedOffset>,
    started: Instant,
}

impl FetchClock {
    fn start(now: DateTime<FixedOffset>) -> FetchClock {
        FetchClock {
            started_at: now,
            started: Instant::now(),
        }
    }

    fn dates(&self, source: &Source) -> DateContext<'static> {
        let elapsed = chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default();
        DateContext::new(
            source.timezone,
            in_zone(self.started_at + elapsed, source.timezone),
        )
    }
}

/// Fetches and extracts every category of `source` once, and the article page of each item.
/// Nothing is kept: every page is fetched in full. `now` is the scrape's start: what relative
/// dates count back from, and what no date may lie more than a day after.
pub async fn scrape_source(
    crawler: &Crawler,
    source: &Source,
    now: DateTime<FixedOffset>,
) -> SourceScrape {
    scrape(
        &Pages {
            crawler,
            cache: None,
        },
        source,
        now,
    )
    .await
}

async fn scrape(pages: &Pages<'_>, source: &Source, now: DateTime<FixedOffset>) -> SourceScrape {
    let clock = FetchClock::start(now);
    let mut drafts: IndexMap<String, Draft> = IndexMap::new();
    let mut failures = Vec::new();
    let mut listings = Vec::new();
    let mut warnings = Vec::new();
    for category in &source.categories {
        let result = match &category.kind {
            CategoryKind::Listing(first) => {
                let listing = Listing {
                    slug: &category.slug,
                    first,
                    format: ListingFormat::Html,
                };
                scrape_listing(pages, source, clock, listing, &mut drafts, &mut warnings).await
            }
            CategoryKind::JsonListing(first) => {
                let listing = Listing {
                    slug: &category.slug,
                    first,
                    format: ListingFormat::Json,
                };
                scrape_listing(pages, source, clock, listing, &mut drafts, &mut warnings).await
            }
            CategoryKind::Feed(url) => {
                scrape_feed(
                    pages,
                    source,
                    clock,
                    &category.slug,
                    url,
                    &mut drafts,
                    &mut warnings,
                )
                .await
            }
        };
        match result {
            Ok(report) => listings.push(report),
            Err((report, error)) => {
                tracing::warn!(source = %source.id, category = %category.slug, error = %error, "listing failed");
                listings.push(report);
                failures.push(ListingFailure {
                    category: category.slug.clone(),
                    error,
                });
            }
        }
    }

    let mut items = Vec::with_capacity(drafts.len());
    let mut budget = ArticleBudget::default();
    for (_, draft) in drafts {
        let (item, item_warnings) = finish_item(pages, source, clock, draft, &mut budget).await;
        warnings.extend(item_warnings);
        items.push(item);
    }
    if let Some(message) = budget.exhausted_message() {
        tracing::warn!(source = %source.id, "{message}");
        warnings.push(ItemWarning {
            url: source.home.to_string(),
            field: "articles".to_owned(),
            message,
        });
    }
    items.sort_by(|a, b| {
        b.published
            .cmp(&a.published)
            .then_with(|| a.url.cmp(&b.url))
    });
    SourceScrape {
        source: source.id.clone(),
        items,
        failures,
        listings,
        warnings,
    }
}

type ListingResult = Result<ListingReport, (ListingReport, StageError)>;

/// The page decoded (forced charset, BOM, header, `<meta>`) and checked for truncation and
/// undecodable text.
pub fn page_text(fetched: &Fetched, source: &Source) -> Result<PageText, StageError> {
    decoded_page(fetched, source.charset)
}

/// A page's text, and what the reader should know about its encoding.
#[derive(Debug, Clone)]
pub struct PageText {
    pub html: String,
    /// The page declared an encoding it is not in, or one that cannot be decoded.
    pub warning: Option<String>,
    /// The encoding it was read in (a form posted back from it goes in the same).
    pub charset: Charset,
}

fn decoded_page(fetched: &Fetched, charset: Option<Charset>) -> Result<PageText, StageError> {
    let page = fetched.html(charset);
    extract::check_page(&page.text, &fetched.url, page.charset.name())?;
    Ok(PageText {
        html: page.text,
        warning: page.warning,
        charset: page.charset,
    })
}

/// A listing page decoded and extracted, off the async workers.
async fn extract_listing(
    fetched: Fetched,
    source: &Source,
    format: ListingFormat,
    dates: DateContext<'static>,
) -> Result<(ListingPage, Charset), StageError> {
    let source = source.clone();
    off_runtime(move || {
        let text = decoded_page(&fetched, source.charset)?;
        let mut page = listing_page(&text.html, &fetched.url, &source, format, &dates)?;
        if let Some(message) = text.warning {
            page.warnings.push(FieldWarning {
                field: "encoding",
                message,
            });
        }
        Ok((page, text.charset))
    })
    .await
}

/// How a scrape fetches its pages: politely, through the crawler, and — in a refresh, which
/// has a store — conditionally, from the last answers kept in the store's page cache. Pages are
/// kept under their canonical URL, so an article's page goes when its item is pruned.
struct Pages<'a> {
    crawler: &'a Crawler,
    cache: Option<&'a Arc<Store>>,
}

impl Pages<'_> {
    async fn fetch(&self, source: &Source, url: &Url) -> Result<Fetched, FetchError> {
        let Some(store) = self.cache else {
            return self.crawler.get(source, url, None).await;
        };
        let key = canonical_url(url, &source.query_filter);
        let cached = store.page(key.as_str()).unwrap_or_else(|error| {
            tracing::warn!(source = %source.id, url = %url, error = %error, "cached page unreadable; fetching in full");
            None
        });
        let validators = cached.as_ref().map(|page| &page.validators);
        let fetched = self.crawler.get(source, url, validators).await?;
        if fetched.not_modified() {
            // A 304 stands for the kept answer (a server's unasked-for 304 stays as it is).
            return Ok(match cached {
                Some(page) => Fetched::from_cache(page, url),
                None => fetched,
            });
        }
        // A write waits for the store's one writer (an ingest and its fsync): off the async
        // workers, which serve meanwhile.
        let (kept, page) = (Arc::clone(store), fetched.to_cache());
        let key = key.to_string();
        let written = tokio::task::spawn_blocking(move || kept.set_page(&key, page.as_ref()))
            .await
            .unwrap_or_else(|error| Err(StoreError::Task(error.to_string())));
        if let Err(error) = written {
            tracing::warn!(source = %source.id, url = %url, error = %error, "cannot keep the page for revalidation");
        }
        Ok(fetched)
    }
}

/// What a listing's pages are: HTML read by selectors, or a JSON endpoint read by pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingFormat {
    Html,
    Json,
}

impl ListingFormat {
    /// Whether the listing counts pages up by a parameter, so that a missing page is its end.
    fn counts_pages(self, source: &Source) -> bool {
        let rules = SiteRules::of(&source.rules);
        match self {
            ListingFormat::Html => rules.listing.next_page.is_none(),
            ListingFormat::Json => {
                !matches!(rules.json.next, Some(extract::json::JsonNext::Pointer(_)))
            }
        }
    }
}

/// Extracts one listing page, HTML or JSON, as the source's rules say.
pub fn listing_page(
    text: &str,
    page_url: &Url,
    source: &Source,
    format: ListingFormat,
    dates: &DateContext<'_>,
) -> Result<extract::ListingPage, ExtractError> {
    let rules = SiteRules::of(&source.rules);
    match format {
        ListingFormat::Html => extract::listing(text, page_url, &rules.listing, dates),
        ListingFormat::Json => {
            extract::json::listing(text, page_url, &source.base, &rules.json, dates)
        }
    }
}

/// How a listing page is asked for: a link, or an ASP.NET form posted back.
#[derive(Debug, Clone)]
enum PageRequest {
    Get(Url),
    Post(extract::postback::Postback),
}

impl PageRequest {
    fn url(&self) -> &Url {
        match self {
            PageRequest::Get(url) => url,
            PageRequest::Post(form) => &form.action,
        }
    }

    /// Whether two requests ask for the same page. Posts never are: a pager's "next" posts
    /// the same event (`Page$Next`, or an empty argument) on every page, and only the hidden
    /// state, which changes anyway, says where it leads; a postback walk ends on a page that
    /// adds nothing new, or at `max_pages`.
    fn same_page(&self, other: &PageRequest) -> bool {
        match (self, other) {
            (PageRequest::Get(a), PageRequest::Get(b)) => a == b,
            _ => false,
        }
    }
}

/// One category's listing: its slug, first page and format.
#[derive(Debug, Clone, Copy)]
struct Listing<'a> {
    slug: &'a str,
    first: &'a Url,
    format: ListingFormat,
}

/// Walks a listing's pages: next-page links (or the page parameter) until there is none,
/// a page repeats, a page adds nothing new, or `max_pages` is reached.
async fn scrape_listing(
    pages: &Pages<'_>,
    source: &Source,
    clock: FetchClock,
    listing: Listing<'_>,
    drafts: &mut IndexMap<String, Draft>,
    warnings: &mut Vec<ItemWarning>,
) -> ListingResult {
    let from = ListingPlace {
        request: PageRequest::Get(listing.first.clone()),
        charset: Charset::UTF_8,
        pages_before: 0,
    };
    let walk = PageWalk {
        from,
        max_pages: source.max_pages as usize,
        keep_place: false,
    };
    walk_listing(pages, source, clock, listing, walk, drafts, warnings)
        .await
        .map(|(report, _)| report)
}

/// Where a listing walk stands: the page to ask for next (with the charset a posted-back form
/// is encoded in) and how many pages came before it.
#[derive(Debug, Clone)]
pub(crate) struct ListingPlace {
    request: PageRequest,
    charset: Charset,
    pages_before: usize,
}

/// One stretch of a listing walk: from a place, at most `max_pages` pages; `keep_place` says
/// to return the page after them (a backfill goes on from there), else the walk just ends.
struct PageWalk {
    from: ListingPlace,
    max_pages: usize,
    keep_place: bool,
}

/// Walks at most `walk.max_pages` pages of a listing from `walk.from` (see `scrape_listing`);
/// returns the report and, when asked, where the listing goes on.
async fn walk_listing(
    pages: &Pages<'_>,
    source: &Source,
    clock: FetchClock,
    listing: Listing<'_>,
    walk: PageWalk,
    drafts: &mut IndexMap<String, Draft>,
    warnings: &mut Vec<ItemWarning>,
) -> Result<(ListingReport, Option<ListingPlace>), (ListingReport, StageError)> {
    let Listing { slug, format, .. } = listing;
    let mut report = ListingReport::new(slug);
    let mut seen_pages = vec![walk.from.request.clone()];
    let mut next = Some(walk.from.request);
    let mut charset = walk.from.charset;
    let mut left = None;
    while let Some(request) = next.take() {
        let answer = match &request {
            PageRequest::Get(url) => pages.fetch(source, url).await,
            // A postback is never conditional and never kept: its answer depends on the form.
            PageRequest::Post(form) => {
                let body = crate::fetch::form_body(&form.fields, charset);
                pages.crawler.post_form(source, &form.action, &body).await
            }
        };
        let page_url = request.url().clone();
        let fetched = match answer {
            Ok(fetched) => fetched,
            // Counting pages up by parameter, a missing page is the end of the listing.
            Err(error)
                if report.pages + walk.from.pages_before > 0
                    && format.counts_pages(source)
                    && error.status() == Some(404) =>
            {
                break;
            }
            Err(error) => return Err((report, error.into())),
        };
        let page = match extract_listing(fetched, source, format, clock.dates(source)).await {
            Ok((page, page_charset)) => {
                charset = page_charset;
                page
            }
            Err(error) => return Err((report, error)),
        };
        report.pages += 1;
        for warning in page.warnings {
            // A pager's last page rightly has no next link: only the first page's is a problem.
            if warning.field == "next_page" && report.pages + walk.from.pages_before > 1 {
                continue;
            }
            tracing::warn!(source = %source.id, url = %page_url, "{}", warning.message);
            warnings.push(ItemWarning {
                url: page_url.to_string(),
                field: warning.field.to_owned(),
                message: warning.message,
            });
        }
        let mut new_entries = 0;
        let room = MAX_ENTRIES_PER_LISTING.saturating_sub(report.entries);
        if page.entries.len() > room {
            let message = format!(
                "only the first {MAX_ENTRIES_PER_LISTING} entries of the listing are read this refresh ({} more on this page left)",
                page.entries.len() - room
            );
            tracing::warn!(source = %source.id, url = %page_url, "{message}");
            warnings.push(ItemWarning {
                url: page_url.to_string(),
                field: "listing".to_owned(),
                message,
            });
        }
        let full = page.entries.len() >= room;
        let links: Vec<(Option<Url>, Option<Url>)> = page
            .entries
            .iter()
            .map(|e| {
                let canonical = canonical_url(&e.link, &source.query_filter);
                (Some(canonical), Some(e.link.clone()))
            })
            .collect();
        let decisions = identities(&sightings(
            &links,
            std::iter::repeat(None),
            std::iter::repeat(None),
        ));
        for (entry, decided) in page.entries.into_iter().zip(decisions).take(room) {
            let Some(decided) = decided else { continue };
            let draft = Draft {
                link: Some(entry.link),
                decided,
                guid: None,
                title: entry.title,
                published: entry.published,
                categories: vec![slug.to_owned()],
                shown_categories: entry.category.into_iter().collect(),
                views: entry.views,
                summary: entry.summary,
                image: entry.image,
                feed_content: None,
                warnings: entry.warnings,
            };
            report.entries += 1;
            if merge(drafts, draft) {
                new_entries += 1;
            }
        }
        let at_end = report.pages >= walk.max_pages;
        if new_entries == 0 || full || (at_end && !walk.keep_place) {
            break;
        }
        if let Some(problem) = page.next_problem {
            let message = format!("{problem}: the listing's later pages are not read");
            tracing::warn!(source = %source.id, url = %page_url, "{message}");
            warnings.push(ItemWarning {
                url: page_url.to_string(),
                field: "next_page".to_owned(),
                message,
            });
            break;
        }
        let candidate = match (page.next, page.postback) {
            (Some(url), _) => Some(PageRequest::Get(url)),
            (None, Some(form)) => Some(PageRequest::Post(form)),
            (None, None) => None,
        };
        if let Some(candidate) = candidate
            && !seen_pages.iter().any(|seen| seen.same_page(&candidate))
        {
            if !source.may_fetch(candidate.url()) {
                let message = format!(
                    "next page {} is outside the source's sites: not followed",
                    candidate.url()
                );
                tracing::warn!(source = %source.id, url = %page_url, "{message}");
                warnings.push(ItemWarning {
                    url: page_url.to_string(),
                    field: "next_page".to_owned(),
                    message,
                });
                break;
            }
            if at_end {
                left = Some(ListingPlace {
                    request: candidate,
                    charset,
                    pages_before: walk.from.pages_before + report.pages,
                });
                break;
            }
            seen_pages.push(candidate.clone());
            next = Some(candidate);
        }
    }
    Ok((report, left))
}

async fn scrape_feed(
    pages: &Pages<'_>,
    source: &Source,
    clock: FetchClock,
    slug: &str,
    url: &Url,
    drafts: &mut IndexMap<String, Draft>,
    source_warnings: &mut Vec<ItemWarning>,
) -> ListingResult {
    let mut report = ListingReport::new(slug);
    let fetched = match pages.fetch(source, url).await {
        Ok(fetched) => fetched,
        Err(error) => return Err((report, error.into())),
    };
    let (charset, dates) = (source.charset, clock.dates(source));
    let parsed = off_runtime(move || {
        let request = FeedRequest {
            url: &fetched.url,
            content_type: fetched.content_type.as_deref(),
            charset,
            dates,
        };
        ingest::parse_feed(&fetched.body, &request).map(|feed| (feed, fetched.url.clone()))
    })
    .await;
    let (feed, feed_url) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return Err((report, error.into())),
    };
    report.pages = 1;
    for message in feed.warnings {
        tracing::warn!(source = %source.id, url = %url, "{message}");
        source_warnings.push(ItemWarning {
            url: feed_url.to_string(),
            field: "feed".to_owned(),
            message,
        });
    }
    let mut entries = feed.entries;
    if entries.len() > MAX_ENTRIES_PER_LISTING {
        let message = format!(
            "only the first {MAX_ENTRIES_PER_LISTING} of the feed's {} entries are read",
            entries.len()
        );
        tracing::warn!(source = %source.id, url = %url, "{message}");
        source_warnings.push(ItemWarning {
            url: url.to_string(),
            field: "listing".to_owned(),
            message,
        });
        entries.truncate(MAX_ENTRIES_PER_LISTING);
    }
    let canonical = |link: &Url| canonical_url(link, &source.query_filter);
    let links: Vec<(Option<Url>, Option<Url>)> = entries
        .iter()
        .map(|e| (e.link.as_ref().map(canonical), e.link.clone()))
        .collect();
    let earlier: Vec<Option<Option<Url>>> = entries
        .iter()
        .map(|e| {
            e.earlier_link
                .as_ref()
                .map(|link| link.as_ref().map(canonical))
        })
        .collect();
    let decisions = identities(&sightings(
        &links,
        entries.iter().map(|e| e.guid.as_deref()),
        earlier
            .iter()
            .map(|e| e.as_ref().map(|link| link.as_ref().map(Url::as_str))),
    ));
    let unidentified = decisions.iter().filter(|d| d.is_none()).count();
    if unidentified > 0 {
        let message = unidentified_warning(unidentified);
        tracing::warn!(source = %source.id, url = %url, "{message}");
        source_warnings.push(ItemWarning {
            url: feed_url.to_string(),
            field: "feed".to_owned(),
            message,
        });
    }
    for (entry, decided) in entries.into_iter().zip(decisions) {
        let Some(decided) = decided else { continue };
        let draft = Draft {
            link: entry.link,
            decided,
            guid: entry.guid,
            title: entry.title,
            published: entry.published,
            categories: vec![slug.to_owned()],
            shown_categories: Vec::new(),
            views: None,
            summary: entry.summary,
            image: entry.image,
            feed_content: entry.content_html,
            warnings: entry.warnings,
        };
        report.entries += 1;
        merge(drafts, draft);
    }
    Ok(report)
}

/// The warning for feed entries that have neither a link nor a guid.
pub fn unidentified_warning(count: usize) -> String {
    format!("{count} entries without a link or an id skipped: nothing tells them apart")
}

/// Adds a sighting; returns whether the item is new to this refresh.
fn merge(drafts: &mut IndexMap<String, Draft>, draft: Draft) -> bool {
    match drafts.get_mut(&draft.decided.identity.current) {
        Some(existing) => {
            existing.absorb(draft);
            false
        }
        None => {
            drafts.insert(draft.decided.identity.current.clone(), draft);
            true
        }
    }
}

/// Article fetches and article text of one refresh so far, against their caps.
#[derive(Debug, Default)]
struct ArticleBudget {
    fetched: usize,
    body_bytes: usize,
    /// Articles not fetched because a cap was reached.
    skipped: usize,
}

impl ArticleBudget {
    fn allows_another(&self) -> bool {
        self.fetched < MAX_ARTICLES_PER_REFRESH && self.body_bytes < REFRESH_BODY_BUDGET
    }

    fn exhausted_message(&self) -> Option<String> {
        (self.skipped > 0).then(|| {
            format!(
                "{} article pages not fetched this refresh: a refresh fetches at most {MAX_ARTICLES_PER_REFRESH} articles and {} MiB of article text; those items keep the listing's data and what the ledger has",
                self.skipped,
                REFRESH_BODY_BUDGET / (1024 * 1024)
            )
        })
    }
}

/// An article page decoded and extracted, its body sanitised, off the async workers.
async fn extract_article(
    fetched: Fetched,
    source: &Source,
    dates: DateContext<'static>,
) -> Result<(Article, Option<String>), StageError> {
    let (charset, rules) = (source.charset, SiteRules::of(&source.rules));
    off_runtime(move || {
        let page = decoded_page(&fetched, charset)?;
        let mut article = extract::article(&page.html, &fetched.url, &rules.article, &dates);
        if let Some(message) = page.warning {
            article.warnings.push(FieldWarning {
                field: "encoding",
                message,
            });
        }
        let body = article.body_html.take().map(|body| {
            let base = article.base.clone().unwrap_or_else(|| fetched.url.clone());
            bounded_body(&body, &base, &mut article.warnings)
        });
        Ok((article, body))
    })
    .await
}

/// Body HTML sanitised, after cutting it to the page bounds and to `MAX_BODY_BYTES` (at a tag
/// where one is near, so the sanitiser closes what the cut left open), each cut a warning.
fn bounded_body(html: &str, base: &Url, warnings: &mut Vec<FieldWarning>) -> String {
    let (html, cut) = extract::bounds::bounded(html, extract::bounds::PageLimits::default());
    if let Some(cut) = cut {
        warnings.push(FieldWarning {
            field: CUT,
            message: format!("body: {cut}"),
        });
    }
    let html = if html.len() > MAX_BODY_BYTES {
        let mut end = MAX_BODY_BYTES;
        while !html.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(tag) = html[..end].rfind('<')
            && end - tag < 4096
        {
            end = tag;
        }
        warnings.push(FieldWarning {
            field: CUT,
            message: format!(
                "body cut to its first {end} of {} bytes (at most {MAX_BODY_BYTES} are kept)",
                html.len()
            ),
        });
        &html[..end]
    } else {
        html
    };
    sanitize::article_html(html, base)
}

/// The warning field of every cut to a bound: page (`extract::bounds`), body, title, summary.
const CUT: &str = "page";

/// `text` cut to `max` characters (an ellipsis marks the cut), with a warning.
fn bounded_text(
    text: String,
    max: usize,
    field: &'static str,
    warnings: &mut Vec<FieldWarning>,
) -> String {
    let Some((end, _)) = text.char_indices().nth(max) else {
        return text;
    };
    warnings.push(FieldWarning {
        field: CUT,
        message: format!(
            "{field} cut to {max} of {} characters",
            text.chars().count()
        ),
    });
    let mut cut = text;
    cut.truncate(end);
    cut.push('…');
    cut
}

/// Fetches the article page (when configured and within the refresh's caps) and turns the
/// draft into an item.
async fn finish_item(
    pages: &Pages<'_>,
    source: &Source,
    clock: FetchClock,
    mut draft: Draft,
    budget: &mut ArticleBudget,
) -> (Item, Vec<ItemWarning>) {
    let page_url = draft.link.as_ref().map(Url::to_string).unwrap_or_default();
    let mut article_status = None;
    let mut content_html = match draft.feed_content.take() {
        Some(html) => {
            let base = draft.link.clone().unwrap_or_else(|| source.base.clone());
            let (body, warnings) = off_runtime(move || {
                let mut warnings = Vec::new();
                (bounded_body(&html, &base, &mut warnings), warnings)
            })
            .await;
            draft.warnings.extend(warnings);
            Some(body)
        }
        None => None,
    };
    let link = draft.link.clone().filter(|_| source.fetch_articles);
    if link.is_some() && !budget.allows_another() {
        budget.skipped += 1;
    } else if let Some(link) = link {
        budget.fetched += 1;
        match pages.fetch(source, &link).await {
            Ok(fetched) => {
                // A 304 is the stored answer standing in: the article is there.
                let status = if fetched.not_modified() {
                    200
                } else {
                    fetched.status
                };
                match extract_article(fetched, source, clock.dates(source)).await {
                    Ok((article, body)) => {
                        article_status = Some(status);
                        draft.title = article.title.or(draft.title);
                        draft.published = refine(draft.published, article.published);
                        draft.image = article.image.or(draft.image);
                        if let Some(body) = body {
                            budget.body_bytes += body.len();
                            content_html = Some(body);
                        }
                        draft.warnings.extend(article.warnings);
                    }
                    // A page that cannot be trusted counts as not fetched: the item keeps what
                    // the ledger has for it.
                    Err(error) => draft.warnings.push(FieldWarning {
                        field: "article",
                        message: error.to_string(),
                    }),
                }
            }
            Err(error) => {
                article_status = error.status();
                draft.warnings.push(FieldWarning {
                    field: "article",
                    message: error.to_string(),
                });
            }
        }
    }
    if draft.title.is_none() {
        draft.warnings.push(FieldWarning {
            field: "title",
            message: "no title on the listing or the article".into(),
        });
    }
    if draft.published.is_none() && !draft.warnings.iter().any(|w| w.field == "date") {
        draft.warnings.push(FieldWarning {
            field: "date",
            message: "no publication date".into(),
        });
    }
    let title = bounded_text(
        draft.title.take().unwrap_or_default(),
        MAX_TITLE_CHARS,
        "title",
        &mut draft.warnings,
    );
    let summary = draft
        .summary
        .take()
        .map(|summary| bounded_text(summary, MAX_SUMMARY_CHARS, "summary", &mut draft.warnings));
    // What was cut to the bounds is also logged: the daemon keeps no other trace of it.
    for cut in draft.warnings.iter().filter(|w| w.field == CUT) {
        tracing::warn!(source = %source.id, url = %page_url, "{}", cut.message);
    }
    let warnings = draft
        .warnings
        .iter()
        .map(|w| ItemWarning {
            url: page_url.clone(),
            field: w.field.to_owned(),
            message: w.message.clone(),
        })
        .collect();
    let item = Item {
        source: source.id.clone(),
        url: draft.decided.url,
        guid: draft.guid,
        title,
        published: draft.published.map(|date| date.at),
        categories: category_labels(source, &draft.categories, &draft.shown_categories),
        views: draft.views,
        summary,
        image: draft.image.map(|u| u.to_string()),
        content_html,
        article_status,
        identity: draft.decided.identity,
    };
    (item, warnings)
}

/// The configured labels of the categories an item appeared in, in configuration order, then
/// any category the pages printed that is not one of those (compared case-insensitively).
fn category_labels(source: &Source, slugs: &[String], shown: &[String]) -> Vec<String> {
    let mut labels: Vec<String> = source
        .categories
        .iter()
        .filter(|c| slugs.contains(&c.slug))
        .map(|c| c.label.clone())
        .collect();
    for name in shown {
        if !labels.iter().any(|l| fold_case(l) == fold_case(name)) {
            labels.push(name.clone());
        }
    }
    labels
}

/// Finds each item's stored identity before it is recorded. An item the store already holds
/// under an earlier identity keeps it (`model::identity`, rule 4). An item found under the
/// source's base that the store holds under the same place on the other scheme or on one of
/// its `previous_bases` (the portal moved) is that item: it keeps its key (so its first_seen
/// and its feed id) and takes the new URL. Returns how many items were found moved, so the
/// refresh can say so.
fn settle_identities(
    store: &Store,
    source: &crate::config::Source,
    items: &mut [Item],
) -> Result<usize, StoreError> {
    let held = |identity: &str| -> Result<Option<Item>, StoreError> {
        let key = ItemKey::derive(&source.id, identity);
        store.item(&key).map(|held| held.map(|stored| stored.item))
    };
    let mut moved = 0;
    for item in items.iter_mut() {
        item.settle_identity(held)?;
        let current = item.identity();
        if held(&current)?.is_some() {
            continue;
        }
        let candidates = std::iter::once(current.as_str())
            .chain(item.identity.earlier.iter().map(String::as_str))
            .flat_map(|identity| source.earlier_locations(identity))
            .collect::<Vec<_>>();
        for candidate in candidates {
            if held(&candidate)?.is_some() {
                tracing::debug!(source = %source.id, url = %item.url, "item found again at its moved address: {candidate}");
                item.identity = crate::model::Identity {
                    current: candidate,
                    earlier: Vec::new(),
                };
                moved += 1;
                break;
            }
        }
    }
    Ok(moved)
}

/// Records a scraped refresh in the ledger: the items (one transaction), the retention prune,
/// the source's health.
fn record(
    store: &Store,
    source: &crate::config::Source,
    items: &mut [Item],
    outcome: &RunOutcome,
    now: DateTime<FixedOffset>,
) -> Result<(IngestReport, Option<Incident>, Vec<String>), StoreError> {
    let ingest = store.ingest(&source.id, items, now)?;
    let pruned = store.prune(&source.id, &source.retention, now)?;
    // The article pages of pruned items are not needed again.
    store.forget_pages(pruned.iter().map(String::as_str))?;
    let incident = store.record_run(&source.id, outcome, now)?;
    Ok((ingest, incident, pruned))
}

/// What one refresh (scrape and store) of a source did.
#[derive(Debug)]
pub struct Refresh {
    pub scrape: SourceScrape,
    pub ingest: IngestReport,
    pub incident: Option<Incident>,
    pub pruned: usize,
}

/// One full refresh of a source: scrape it, record the items in the ledger, prune per the
/// retention policy, record the source's health. A failing listing is recorded, never fatal;
/// only a store failure is an error.
pub async fn refresh(
    crawler: &Crawler,
    store: &Arc<Store>,
    source: &Arc<crate::config::Source>,
    now: DateTime<FixedOffset>,
) -> Result<Refresh, StoreError> {
    let started = Instant::now();
    let pages = Pages {
        crawler,
        cache: Some(store),
    };
    let scrape = scrape(&pages, source, now).await;
    record_scrape(store, source, scrape, now, started).await
}

/// `refresh`, unless `stop` is cancelled while the source is still being fetched: then the
/// fetches in flight are dropped (their connections closed), nothing is recorded and `None`
/// is returned. Once the scrape is done its recording is never cut short, so a stop leaves
/// the store as after a whole refresh or as before it.
pub async fn refresh_until(
    crawler: &Crawler,
    store: &Arc<Store>,
    source: &Arc<crate::config::Source>,
    now: DateTime<FixedOffset>,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<Option<Refresh>, StoreError> {
    let started = Instant::now();
    let pages = Pages {
        crawler,
        cache: Some(store),
    };
    let scrape = tokio::select! {
        scrape = scrape(&pages, source, now) => scrape,
        () = stop.cancelled() => return Ok(None),
    };
    record_scrape(store, source, scrape, now, started)
        .await
        .map(Some)
}

/// The second half of a refresh: record what `scrape` found (items, pruning, health).
async fn record_scrape(
    store: &Arc<Store>,
    source: &Arc<crate::config::Source>,
    mut scrape: SourceScrape,
    now: DateTime<FixedOffset>,
    started: Instant,
) -> Result<Refresh, StoreError> {
    let outcome = RunOutcome {
        listings: source.categories.len(),
        failures: scrape
            .failures
            .iter()
            .map(|failure| HealthError {
                at: now,
                kind: failure.error.kind(),
                category: failure.category.clone(),
                message: failure.error.to_string(),
            })
            .collect(),
        empty: scrape
            .listings
            .iter()
            .filter(|l| l.entries == 0 && !scrape.failures.iter().any(|f| f.category == l.category))
            .map(|l| l.category.clone())
            .collect(),
        items_seen: scrape.items.len() as u64,
        warnings: scrape.warnings.clone(),
    };
    // The store is synchronous: keep its fsyncs off the async workers, one writer at a time.
    let (ingest, incident, pruned, scrape) = {
        let store = Arc::clone(store);
        let source = Arc::clone(source);
        let mut outcome = outcome;
        in_store_turn(move || -> Result<_, StoreError> {
            let epoch = store.epoch();
            // Settling reads the store; a store closed by a failure (a full disk) is reopened
            // here like before a write, or the refresh would never get to reopen it.
            let moved = match settle_identities(&store, &source, &mut scrape.items) {
                Err(error) if error.is_io() => {
                    tracing::warn!(source = %source.id, error = %error, "reading the store failed; reopening it and trying once more");
                    store.recover(epoch)?;
                    settle_identities(&store, &source, &mut scrape.items)?
                }
                other => other?,
            };
            if moved > 0 {
                // A move is a guess from addresses: said where the admin looks.
                let message = format!(
                    "{moved} items found at a new address are the items stored under an earlier \
                     one (http/https or previous_bases): same items, links now under {}",
                    source.base
                );
                tracing::warn!(source = %source.id, "{message}");
                let warning = ItemWarning {
                    url: source.base.to_string(),
                    field: "previous_bases".to_owned(),
                    message,
                };
                outcome.warnings.push(warning.clone());
                scrape.warnings.push(warning);
            }
            let (ingest, incident, pruned) =
                match record(&store, &source, &mut scrape.items, &outcome, now) {
                    // The engine refuses all after a write error (a full disk): only a fresh opening
                    // writes again. Each step is a transaction, so doing them again is safe.
                    Err(error) if error.is_io() => {
                        tracing::warn!(source = %source.id, error = %error, "storing the refresh failed; reopening the store and trying once more");
                        store.recover(epoch)?;
                        record(&store, &source, &mut scrape.items, &outcome, now)?
                    }
                    other => other?,
                };
            Ok((ingest, incident, pruned, scrape))
        })
        .await?
    };
    tracing::info!(
        source = %source.id,
        items = scrape.items.len(),
        items_new = ingest.new.len(),
        items_updated = ingest.updated.len(),
        failures = scrape.failures.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "refreshed"
    );
    if let Some(incident) = &incident {
        tracing::warn!(source = %source.id, from = incident.from.as_str(), to = incident.to.as_str(), "source health changed");
    }
    Ok(Refresh {
        scrape,
        ingest,
        incident,
        pruned: pruned.len(),
    })
}

/// Why a backfill stopped before the end of its listing.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("backfill {id}: no category {category:?} (its categories: {known})")]
    NoCategory {
        id: SourceId,
        category: String,
        known: String,
    },
    #[error(
        "backfill {id}/{category}: a feed keeps only its newest entries, there is no archive to walk (only listings are backfilled)"
    )]
    FeedCategory { id: SourceId, category: String },
    #[error(
        "backfill {id}/{category}: page {page}: {error} (run it again to go on from that page)"
    )]
    Page {
        id: SourceId,
        category: String,
        page: usize,
        error: StageError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one page of a backfill did, for progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillStep {
    /// Pages of the listing walked so far, counting those of earlier (interrupted) runs.
    pub page: usize,
    pub items: usize,
    pub new: usize,
    /// Items left out for being older than `--since`.
    pub older: usize,
}

/// What a whole backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillReport {
    pub pages: usize,
    pub items: usize,
    pub new: usize,
    /// Items with no date of their own: they sort by when they were first seen (now).
    pub undated: usize,
    /// Items left out for being older than `since`.
    pub older: usize,
    /// Whether it went on from an earlier run's checkpoint.
    pub resumed: bool,
    pub warnings: Vec<ItemWarning>,
}

/// A listing place as the store's checkpoint keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    url: String,
    /// A posted-back form's fields (a GET when absent).
    form: Option<Vec<(String, String)>>,
    charset: String,
    pages_before: usize,
}

impl Checkpoint {
    fn of(place: &ListingPlace) -> Checkpoint {
        let (url, form) = match &place.request {
            PageRequest::Get(url) => (url.to_string(), None),
            PageRequest::Post(form) => (form.action.to_string(), Some(form.fields.clone())),
        };
        Checkpoint {
            url,
            form,
            charset: place.charset.name().to_owned(),
            pages_before: place.pages_before,
        }
    }

    fn place(self) -> Option<ListingPlace> {
        let url = Url::parse(&self.url).ok()?;
        Some(ListingPlace {
            request: match self.form {
                Some(fields) => PageRequest::Post(extract::postback::Postback {
                    action: url,
                    fields,
                }),
                None => PageRequest::Get(url),
            },
            charset: Charset::for_label(&self.charset)?,
            pages_before: self.pages_before,
        })
    }
}

/// Walks one category's whole listing, past `max_pages`, a page at a time (any pagination:
/// next links, page numbers, JSON offsets, form posts), storing each page's items (articles
/// fetched, real dates kept) before going on, politely (the crawler's robots and host
/// spacing). After each page the store keeps where the walk goes on, so a walk killed at any
/// moment resumes there. It ends where the listing ends, where a page adds nothing not seen
/// in this walk, or at the first page whose dated items are all older than `since`.
pub async fn backfill(
    crawler: &Crawler,
    store: &Arc<Store>,
    source: &Arc<Source>,
    category: &str,
    since: Option<DateTime<FixedOffset>>,
    now: DateTime<FixedOffset>,
    progress: &mut dyn FnMut(&BackfillStep),
) -> Result<BackfillReport, BackfillError> {
    let Some(configured) = source.categories.iter().find(|c| c.slug == category) else {
        return Err(BackfillError::NoCategory {
            id: source.id.clone(),
            category: category.to_owned(),
            known: source
                .categories
                .iter()
                .map(|c| c.slug.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let (first, format) = match &configured.kind {
        CategoryKind::Listing(first) => (first, ListingFormat::Html),
        CategoryKind::JsonListing(first) => (first, ListingFormat::Json),
        CategoryKind::Feed(_) => {
            return Err(BackfillError::FeedCategory {
                id: source.id.clone(),
                category: category.to_owned(),
            });
        }
    };
    let listing = Listing {
        slug: &configured.slug,
        first,
        format,
    };
    let pages = Pages {
        crawler,
        cache: None,
    };
    let clock = FetchClock::start(now);
    let mut report = BackfillReport::default();
    let saved = store.checkpoint(source.id.as_str(), category)?;
    let mut place = match saved
        .as_deref()
        .and_then(|bytes| serde_json::from_slice::<Checkpoint>(bytes).ok())
        .and_then(Checkpoint::place)
    {
        Some(place) => {
            report.resumed = true;
            place
        }
        None => ListingPlace {
            request: PageRequest::Get(first.clone()),
            charset: Charset::UTF_8,
            pages_before: 0,
        },
    };
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    loop {
        let page_number = place.pages_before + 1;
        let mut drafts = IndexMap::new();
        let mut warnings = Vec::new();
        let walk = PageWalk {
            from: place,
            max_pages: 1,
            keep_place: true,
        };
        let (_, left) = walk_listing(
            &pages,
            source,
            clock,
            listing,
            walk,
            &mut drafts,
            &mut warnings,
        )
        .await
        .map_err(|(_, error)| BackfillError::Page {
            id: source.id.clone(),
            category: category.to_owned(),
            page: page_number,
            error,
        })?;
        let unseen = drafts.keys().filter(|k| seen.insert((*k).clone())).count();
        let mut items = Vec::with_capacity(drafts.len());
        let mut budget = ArticleBudget::default();
        for (_, draft) in drafts {
            let (item, item_warnings) =
                finish_item(&pages, source, clock, draft, &mut budget).await;
            warnings.extend(item_warnings);
            items.push(item);
        }
        let dated = items.iter().filter(|i| i.published.is_some()).count();
        let older =
            |item: &Item| since.is_some_and(|since| item.published.is_some_and(|p| p < since));
        let too_old = items.iter().filter(|i| older(i)).count();
        let all_older = dated > 0 && too_old == dated;
        items.retain(|item| !older(item));
        report.undated += items.iter().filter(|i| i.published.is_none()).count();
        let done = left.is_none() || unseen == 0 || all_older;
        let checkpoint = match (&left, done) {
            (Some(next), false) => {
                Some(serde_json::to_vec(&Checkpoint::of(next)).unwrap_or_default())
            }
            _ => None,
        };
        let ingest = {
            let store = Arc::clone(store);
            let source = Arc::clone(source);
            let category = category.to_owned();
            in_store_turn(move || -> Result<IngestReport, StoreError> {
                settle_identities(&store, &source, &mut items)?;
                let ingest = store.ingest(&source.id, &items, now)?;
                // After the items: a kill in between walks this page again, storing nothing twice.
                store.set_checkpoint(source.id.as_str(), &category, checkpoint.as_deref())?;
                Ok(ingest)
            })
            .await?
        };
        let step = BackfillStep {
            page: page_number,
            items: drafts_len(&ingest),
            new: ingest.new.len(),
            older: too_old,
        };
        report.pages += 1;
        report.items += step.items;
        report.new += step.new;
        report.older += step.older;
        report.warnings.extend(warnings);
        progress(&step);
        match left {
            Some(next) if !done => place = next,
            _ => break,
        }
    }
    Ok(report)
}

/// How many items an ingest looked at.
fn drafts_len(ingest: &IngestReport) -> usize {
    ingest.new.len()
        + ingest.updated.len()
        + ingest.views_only.len()
        + ingest.quiet.len()
        + ingest.unchanged
}
