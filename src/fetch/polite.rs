//! Fetching as a good citizen: one request at a time per host, spaced by a minimum interval;
//! robots.txt fetched once (sources asking at the same time wait for the one fetch), cached
//! and obeyed (Crawl-delay too); transient failures retried with exponential backoff and
//! `Retry-After`; conditional requests with the validators the caller kept (the pipeline keeps
//! the last answers; a 304 comes back as it is, for it to fill in).
//!
//! Many wards share one government host, so the host, not the source, is the unit of
//! politeness; Crawl-delay, which a site's robots.txt sets, spaces that site's own requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use url::Url;

use super::robots::Robots;
use super::{FetchError, Fetched, Fetcher, Hop, RedirectChain};
use crate::config::{FetchSettings, Source};
use crate::model::{ErrorKind, Validators};

/// How long a fetched robots.txt is trusted.
pub const ROBOTS_TTL: Duration = Duration::from_secs(24 * 3600);
/// First retry delay; doubled at each further attempt.
pub const RETRY_BASE: Duration = Duration::from_secs(2);
/// Longest wait between two attempts of one request. A `Retry-After` longer than this ends the
/// attempts: the source waits for its next scheduled run instead of holding a request open.
pub const RETRY_CAP: Duration = Duration::from_secs(60);

/// The host a URL's requests are counted against (host and port): the unit of politeness.
pub fn host_key(url: &Url) -> String {
    url.host_str()
        .map(|h| format!("{h}:{}", url.port_or_known_default().unwrap_or(0)))
        .unwrap_or_default()
}

/// Per-host request slots: one request at a time, `min_interval` apart (end to start).
#[derive(Debug, Default)]
pub struct HostGate {
    hosts: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
}

/// The turn kept for `key` in `turns` (a host's slot, a robots.txt's fetch), made on first
/// use and shared by everyone who asks for the same key.
fn turn_for<T: Default>(turns: &Mutex<HashMap<String, Arc<T>>>, key: &str) -> Arc<T> {
    Arc::clone(
        turns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_default(),
    )
}

/// The right to send one request to a host; dropping it records when the request ended.
pub struct HostPermit {
    last: tokio::sync::OwnedMutexGuard<Option<Instant>>,
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        *self.last = Some(Instant::now());
    }
}

impl HostGate {
    /// Waits for the host to be free and `min_interval` past its previous request.
    pub async fn acquire(&self, host: &str, min_interval: Duration) -> HostPermit {
        let slot = turn_for(&self.hosts, host);
        // tokio's Mutex is fair: waiters are served in arrival order, so no source starves.
        let last = slot.lock_owned().await;
        if let Some(previous) = *last {
            tokio::time::sleep_until(previous + min_interval).await;
        }
        HostPermit { last }
    }
}

/// How a failed request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based): the server's `Retry-After` when it
    /// gave one (`None` if it asks for more than `cap`: give up), else `base × 2^attempt`,
    /// capped, scaled by `jitter` in [0.5, 1] so that sources failing together do not retry
    /// together.
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        if let Some(asked) = retry_after {
            return (asked <= self.cap).then_some(asked);
        }
        let exponential = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        Some(exponential.mul_f64(jitter.clamp(0.5, 1.0)))
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the policy gives up.
pub async fn with_retries<T, F, Fut>(policy: RetryPolicy, mut attempt: F) -> Result<T, FetchError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, FetchError>>,
{
    let mut tried = 0;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) if error.is_transient() && tried < policy.retries => {
                let jitter = 0.5 + rand::random::<f64>() / 2.0;
                let Some(wait) = policy.delay(tried, error.retry_after(), jitter) else {
                    return Err(error);
                };
                tracing::debug!(error = %error, wait_ms = wait.as_millis() as u64, "retrying");
                tokio::time::sleep(wait).await;
                tried += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// How long an unreadable robots.txt keeps a site closed before we ask again.
pub const ROBOTS_RETRY: Duration = Duration::from_secs(600);

/// The robots.txt of one site as we know it: its rules, or why it could not be read.
#[derive(Debug, Clone)]
enum RobotsAnswer {
    Rules(Robots),
    /// Unreachable or a server error: nothing of the site is fetched until it can be read.
    Unreadable {
        cause: String,
        kind: ErrorKind,
    },
}

/// The robots.txt of one site, with when we read it and for how long it holds.
#[derive(Debug, Clone)]
struct KnownRobots {
    answer: RobotsAnswer,
    read_at: Instant,
    ttl: Duration,
}

/// The polite fetcher every scrape goes through.
#[derive(Debug)]
pub struct Crawler {
    fetcher: Fetcher,
    /// Shared with the crawler a reload builds (`reconfigured`): politeness and what robots.txt
    /// said outlive a change of settings.
    gate: Arc<HostGate>,
    min_host_interval: Duration,
    max_crawl_delay: Duration,
    retry: RetryPolicy,
    user_agent_token: String,
    robots: Arc<Mutex<HashMap<String, KnownRobots>>>,
    /// One turn per robots.txt URL: sources that need the same robots.txt at once (every
    /// source of a host, at start) wait for one fetch of it instead of each sending its own.
    robots_turns: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// When each source last sent a request, for its site's Crawl-delay.
    source_last: Arc<Mutex<HashMap<String, Instant>>>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Crawler {
    pub fn new(settings: &FetchSettings) -> Result<Crawler, FetchError> {
        Ok(Crawler {
            fetcher: Fetcher::new(settings)?,
            gate: Arc::default(),
            min_host_interval: settings.min_host_interval,
            max_crawl_delay: settings.max_crawl_delay,
            retry: RetryPolicy {
                retries: settings.retries,
                base: RETRY_BASE,
                cap: RETRY_CAP,
            },
            user_agent_token: "wardfeed".to_owned(),
            robots: Arc::default(),
            robots_turns: Arc::default(),
            source_last: Arc::default(),
            metrics: None,
        })
    }

    /// A crawler with new settings (a new HTTP client: user agent, body cap, timeouts,
    /// redirects, retries, intervals) that shares this one's host slots, robots.txt answers
    /// and Crawl-delay clocks, so that the old and the new crawler, both busy for a moment
    /// after a reload, still send one request at a time per host.
    pub fn reconfigured(&self, settings: &FetchSettings) -> Result<Crawler, FetchError> {
        let mut crawler = Crawler::new(settings)?;
        crawler.gate = Arc::clone(&self.gate);
        crawler.robots = Arc::clone(&self.robots);
        crawler.robots_turns = Arc::clone(&self.robots_turns);
        crawler.source_last = Arc::clone(&self.source_last);
        crawler.metrics = self.metrics.clone();
        Ok(crawler)
    }

    /// Counts every fetch in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Crawler {
        self.metrics = Some(metrics);
        self
    }

    /// Fetches `url` for `source`, politely: only from the source's sites, as robots.txt
    /// allows, redirects followed hop by hop under the same rules. With `validators` the
    /// request is conditional: a 304 comes back as it came (status 304, no body).
    pub async fn get(
        &self,
        source: &Source,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        self.fetch_chain(source, url, validators, None).await
    }

    /// POSTs the form `body` (`application/x-www-form-urlencoded`, see `form_body`) to `url`
    /// for `source`, as politely as `get`: the source's sites only, robots.txt, the host's
    /// spacing and Crawl-delay, retries, the size cap. A 301/302/303 answer is followed with a
    /// GET, as browsers do; 307/308 post again. Never conditional, never kept.
    pub async fn post_form(
        &self,
        source: &Source,
        url: &Url,
        body: &Bytes,
    ) -> Result<Fetched, FetchError> {
        self.fetch_chain(source, url, None, Some(body.clone()))
            .await
    }

    async fn fetch_chain(
        &self,
        source: &Source,
        url: &Url,
        validators: Option<&Validators>,
        mut form: Option<Bytes>,
    ) -> Result<Fetched, FetchError> {
        let mut chain = RedirectChain::new(url, self.fetcher.max_redirects());
        loop {
            let hop = chain.current().clone();
            if !source.may_fetch(&hop) {
                return Err(FetchError::OffSite {
                    url: hop.to_string(),
                    from: chain.redirected().then(|| chain.start().to_string()),
                });
            }
            let crawl_delay = self.admit(source, &hop).await?;
            let answer = with_retries(self.retry, || {
                let (hop, form) = (&hop, form.as_ref());
                async move {
                    self.wait_crawl_delay(source, crawl_delay).await;
                    self.fetch_once(source, hop, validators, form).await
                }
            })
            .await?;
            match answer {
                Hop::Answer(fetched) => return Ok(fetched),
                Hop::Redirect { status, to } => {
                    if !matches!(status, 307 | 308) {
                        form = None;
                    }
                    chain.follow(to)?
                }
            }
        }
    }

    /// Whether robots.txt lets `source` fetch `url`, and the Crawl-delay to keep (capped).
    async fn admit(&self, source: &Source, url: &Url) -> Result<Option<Duration>, FetchError> {
        if source.ignore_robots {
            return Ok(None);
        }
        let (robots_url, path) = robots_location(&source.base, url);
        match self.robots(source, &robots_url).await {
            RobotsAnswer::Rules(robots) if robots.allows(&path) => Ok(robots
                .crawl_delay()
                .map(|delay| delay.min(self.max_crawl_delay))),
            RobotsAnswer::Rules(_) => Err(FetchError::Robots {
                url: url.to_string(),
            }),
            RobotsAnswer::Unreadable { cause, kind } => Err(FetchError::RobotsUnreadable {
                url: url.to_string(),
                robots_url: robots_url.to_string(),
                cause,
                cause_kind: kind,
            }),
        }
    }

    /// One request through the host gate, counted.
    async fn fetch_once(
        &self,
        source: &Source,
        url: &Url,
        validators: Option<&Validators>,
        form: Option<&Bytes>,
    ) -> Result<Hop, FetchError> {
        let host = host_key(url);
        let _permit = self.gate.acquire(&host, self.min_host_interval).await;
        let started = std::time::Instant::now();
        let result = self
            .fetcher
            .request_once(url, Some(source.timeout), validators, form)
            .await;
        self.source_last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(source.id.to_string(), Instant::now());
        if let Some(metrics) = &self.metrics {
            let (outcome, bytes) = match &result {
                Ok(Hop::Answer(fetched)) => (fetched.status.to_string(), fetched.body.len() as u64),
                Ok(Hop::Redirect { status, .. }) => (status.to_string(), 0),
                Err(FetchError::Status { status, .. }) => (status.to_string(), 0),
                Err(error) => (error.kind().as_str().to_owned(), 0),
            };
            metrics.record_fetch(source.id.as_str(), &outcome, started.elapsed(), bytes);
        }
        result
    }

    /// Honours the site's Crawl-delay between this source's own requests.
    async fn wait_crawl_delay(&self, source: &Source, delay: Option<Duration>) {
        let Some(delay) = delay else { return };
        let last = self
            .source_last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(source.id.as_str())
            .copied();
        if let Some(last) = last {
            tokio::time::sleep_until(last + delay).await;
        }
    }

    /// A site's robots.txt: cached for a day; absent (4xx) allows all; unreachable or 5xx
    /// disallows all until it can be read (RFC 9309), which the source records as an error
    /// of the robots.txt's own kind (a refused connection is a network error, not robots).
    async fn robots(&self, source: &Source, robots_url: &Url) -> RobotsAnswer {
        let key = robots_url.to_string();
        let known = |robots: &HashMap<String, KnownRobots>| {
            robots
                .get(&key)
                .filter(|known| known.read_at.elapsed() < known.ttl)
                .map(|known| known.answer.clone())
        };
        if let Some(answer) = known(&self.robots.lock().unwrap_or_else(|p| p.into_inner())) {
            return answer;
        }
        let turn = turn_for(&self.robots_turns, &key);
        let _turn = turn.lock().await;
        // Whoever had the turn before us may have read it meanwhile.
        if let Some(answer) = known(&self.robots.lock().unwrap_or_else(|p| p.into_inner())) {
            return answer;
        }
        let host = host_key(robots_url);
        let answer = {
            let _permit = self.gate.acquire(&host, self.min_host_interval).await;
            self.fetch_robots(robots_url, source.timeout).await
        };
        let (answer, ttl) = match answer {
            Ok(fetched) => (
                RobotsAnswer::Rules(Robots::parse(&fetched.body, &self.user_agent_token)),
                ROBOTS_TTL,
            ),
            Err(FetchError::Status { status, .. }) if (400..500).contains(&status) => {
                (RobotsAnswer::Rules(Robots::allow_all()), ROBOTS_TTL)
            }
            // RFC 9309 §2.3.1.2: a robots.txt whose redirects cannot be followed may be taken
            // as unavailable, like a 404: every path allowed.
            Err(error @ FetchError::OffSite { .. }) => {
                tracing::warn!(source = %source.id, url = %robots_url, error = %error, "robots.txt redirects to another site: read as absent (everything allowed)");
                (RobotsAnswer::Rules(Robots::allow_all()), ROBOTS_TTL)
            }
            Err(error) => {
                tracing::warn!(source = %source.id, url = %robots_url, error = %error, "robots.txt unreadable: fetching nothing from the site until it is");
                let cause = match &error {
                    FetchError::Network { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                (
                    RobotsAnswer::Unreadable {
                        cause,
                        kind: error.kind(),
                    },
                    ROBOTS_RETRY,
                )
            }
        };
        self.robots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                key,
                KnownRobots {
                    answer: answer.clone(),
                    read_at: Instant::now(),
                    ttl,
                },
            );
        answer
    }
}

impl Crawler {
    /// GETs a robots.txt, following redirects on its own site only: another host's answer
    /// says nothing about this one, and is not ours to fetch.
    async fn fetch_robots(
        &self,
        robots_url: &Url,
        timeout: Duration,
    ) -> Result<Fetched, FetchError> {
        let mut chain = RedirectChain::new(robots_url, self.fetcher.max_redirects());
        loop {
            match self
                .fetcher
                .get_once(chain.current(), Some(timeout), None)
                .await?
            {
                Hop::Answer(fetched) => return Ok(fetched),
                Hop::Redirect { to, .. } if to.origin() == robots_url.origin() => {
                    chain.follow(to)?
                }
                Hop::Redirect { to, .. } => {
                    return Err(FetchError::OffSite {
                        url: to.to_string(),
                        from: Some(robots_url.to_string()),
                    });
                }
            }
        }
    }
}

/// Where the robots.txt governing `url` is, and the path it judges. A page of the source's
/// own site answers to the robots.txt under the source's base, its path relative to that base
/// (portals deployed under a path write their rules for themselves); a page on another of the
/// source's sites answers to that host's `/robots.txt`.
fn robots_location(base: &Url, url: &Url) -> (Url, String) {
    if url.origin() == base.origin()
        && let Ok(robots) = crate::config::join_base(base, "/robots.txt")
    {
        return (robots, site_relative(base, url));
    }
    let mut robots = url.clone();
    robots.set_path("/robots.txt");
    robots.set_query(None);
    robots.set_fragment(None);
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    (robots, path)
}

/// The URL's path and query relative to the site's base path: robots.txt rules are written
/// for the site as deployed under its base (a portal under `/phucloi` writes `/admin/`).
fn site_relative(base: &Url, url: &Url) -> String {
    let prefix = base.path().trim_end_matches('/');
    let path = url.path();
    let relative = path
        .strip_prefix(prefix)
        .filter(|p| p.starts_with('/'))
        .unwrap_or(path);
    match url.query() {
        Some(query) => format!("{relative}?{query}"),
        None => relative.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_request_per_host_at_a_time_and_spaced() {
        let gate = Arc::new(HostGate::default());
        let spacing = Duration::from_millis(700);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let gate = Arc::clone(&gate);
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire("portal.hanoi.gov.vn:443", spacing).await;
                let start = Instant::now();
                // A request takes 300 ms.
                tokio::time::sleep(Duration::from_millis(300)).await;
                (start, Instant::now())
            }));
        }
        let mut spans = Vec::new();
        for task in tasks {
            spans.push(task.await.unwrap());
        }
        spans.sort();
        assert_eq!(spans[0].0, started, "the first request goes at once");
        for pair in spans.windows(2) {
            assert!(
                pair[1].0 >= pair[0].1 + spacing,
                "requests overlap or come too soon: {pair:?}"
            );
        }
        // Another host is not held up.
        let other = gate.acquire("other.gov.vn:443", spacing).await;
        drop(other);
    }

    #[test]
    fn backoff_doubles_is_capped_and_honours_retry_after() {
        let policy = RetryPolicy {
            retries: 5,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(60),
        };
        assert_eq!(policy.delay(0, None, 1.0), Some(Duration::from_secs(2)));
        assert_eq!(policy.delay(1, None, 1.0), Some(Duration::from_secs(4)));
        assert_eq!(policy.delay(3, None, 1.0), Some(Duration::from_secs(16)));
        assert_eq!(policy.delay(10, None, 1.0), Some(Duration::from_secs(60)));
        assert_eq!(policy.delay(1, None, 0.5), Some(Duration::from_secs(2)));
        assert_eq!(
            policy.delay(1, None, 0.1),
            Some(Duration::from_secs(2)),
            "jitter never halves twice"
        );
        assert_eq!(
            policy.delay(0, Some(Duration::from_secs(30)), 1.0),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            policy.delay(0, Some(Duration::from_secs(3600)), 1.0),
            None,
            "too long a wait: give up"
        );
    }

    fn busy(retry_after: Option<Duration>) -> FetchError {
        FetchError::Status {
            url: "http://h/".into(),
            status: 503,
            retry_after,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_wait_between_attempts_then_succeed() {
        let policy = RetryPolicy {
            retries: 3,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(60),
        };
        let started = Instant::now();
        let mut calls = Vec::new();
        let result = with_retries(policy, || {
            calls.push(Instant::now() - started);
            let n = calls.len();
            async move { if n < 3 { Err(busy(None)) } else { Ok(n) } }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
        // Waits of 2 s then 4 s, each scaled by a jitter in [0.5, 1].
        assert_eq!(calls[0], Duration::ZERO);
        assert!(
            calls[1] >= Duration::from_secs(1) && calls[1] <= Duration::from_secs(2),
            "{calls:?}"
        );
        let second_wait = calls[2] - calls[1];
        assert!(
            second_wait >= Duration::from_secs(2) && second_wait <= Duration::from_secs(4),
            "{calls:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_and_permanent_errors_are_not_retried() {
        let policy = RetryPolicy {
            retries: 2,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(60),
        };
        let started = Instant::now();
        let mut attempts = 0;
        let _ = with_retries(policy, || {
            attempts += 1;
            async { Err::<(), _>(busy(Some(Duration::from_secs(45)))) }
        })
        .await;
        assert_eq!(attempts, 3);
        assert_eq!(
            Instant::now() - started,
            Duration::from_secs(90),
            "two waits of exactly 45 s"
        );

        let mut attempts = 0;
        let error = with_retries(policy, || {
            attempts += 1;
            async {
                Err::<(), _>(FetchError::Status {
                    url: "http://h/".into(),
                    status: 404,
                    retry_after: None,
                })
            }
        })
        .await
        .unwrap_err();
        assert_eq!((attempts, error.status()), (1, Some(404)));

        let started = Instant::now();
        let mut attempts = 0;
        let _ = with_retries(policy, || {
            attempts += 1;
            async { Err::<(), _>(busy(Some(Duration::from_secs(7200)))) }
        })
        .await;
        assert_eq!(
            (attempts, Instant::now() - started),
            (1, Duration::ZERO),
            "a two-hour Retry-After ends the attempts"
        );
    }

    #[test]
    fn robots_paths_are_relative_to_the_site_base() {
        let base = Url::parse("http://127.0.0.1:9/bode").unwrap();
        let url = Url::parse("http://127.0.0.1:9/bode/admin/x?y=1").unwrap();
        assert_eq!(site_relative(&base, &url), "/admin/x?y=1");
        let root = Url::parse("https://bode.longbien.hanoi.gov.vn").unwrap();
        let url = Url::parse("https://bode.longbien.hanoi.gov.vn/tim-kiem").unwrap();
        assert_eq!(site_relative(&root, &url), "/tim-kiem");
        let other = Url::parse("http://127.0.0.1:9/bodeX/a").unwrap();
        assert_eq!(site_relative(&base, &other), "/bodeX/a");
    }
}
