//! Fetching pages: one HTTP client with timeouts, a body-size cap, a redirect limit, compressed
//! transfer, conditional requests, and charset detection for the bytes that come back;
//! `polite` adds robots.txt, per-host spacing and retries on top.

pub mod decode;
pub mod polite;
pub mod robots;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{self, HeaderMap, HeaderValue};
use url::Url;

use crate::charset::Charset;
use crate::config::FetchSettings;
use crate::model::{CachedPage, ErrorKind, Validators};
pub use polite::Crawler;

/// A successful answer: 2xx with its body, or 304 when validators were sent and still hold.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL that answered, after redirects.
    pub url: Url,
    pub status: u16,
    pub body: Bytes,
    pub content_type: Option<String>,
    pub validators: Validators,
}

impl Fetched {
    pub fn not_modified(&self) -> bool {
        self.status == 304
    }

    /// What a 304 answer stands for: the page as it was last kept, under status 304.
    pub fn from_cache(page: CachedPage, requested: &Url) -> Fetched {
        Fetched {
            url: Url::parse(&page.final_url).unwrap_or_else(|_| requested.clone()),
            status: 304,
            body: Bytes::from(page.body),
            content_type: page.content_type,
            validators: page.validators,
        }
    }

    /// The answer to keep for the next conditional request; `None` when it has no validators
    /// (it could not be revalidated) or is itself a 304.
    pub fn to_cache(&self) -> Option<CachedPage> {
        (!self.not_modified() && !self.validators.is_empty()).then(|| CachedPage {
            validators: self.validators.clone(),
            final_url: self.url.to_string(),
            content_type: self.content_type.clone(),
            body: self.body.to_vec(),
        })
    }

    /// The body as a page's text, in the encoding `decode::html` decides.
    pub fn html(&self, forced: Option<Charset>) -> decode::Text {
        decode::html(&self.body, self.content_type.as_deref(), forced)
    }

    /// The body as a feed's text, in the encoding `decode::xml` decides.
    pub fn xml(&self, forced: Option<Charset>) -> decode::Text {
        decode::xml(&self.body, self.content_type.as_deref(), forced)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("fetch {url}: timed out after {}s", .after.as_secs_f32())]
    Timeout { url: String, after: Duration },
    #[error("fetch {url}: HTTP {status}")]
    Status {
        url: String,
        status: u16,
        /// What the server asked us to wait (429/503 `Retry-After`), clamped to the maximum.
        retry_after: Option<Duration>,
    },
    #[error("fetch {url}: body larger than the {limit}-byte cap")]
    TooLarge { url: String, limit: u64 },
    /// `url` is where the redirects led last: the page to look at.
    #[error("fetch {url}: {} (redirected from {from})", if *.looped { "redirect loop" } else { "too many redirects" })]
    Redirects {
        url: String,
        from: String,
        looped: bool,
    },
    #[error("fetch {url}: {message}")]
    Network { url: String, message: String },
    #[error("fetch {url}: disallowed by robots.txt")]
    Robots { url: String },
    /// The site's robots.txt could not be read, so nothing of the site is fetched (RFC 9309);
    /// the failure is the robots.txt's, of its own kind (a refused connection is `network`).
    #[error("fetch {url}: not fetched: {robots_url} unreadable: {cause}")]
    RobotsUnreadable {
        url: String,
        robots_url: String,
        cause: String,
        cause_kind: ErrorKind,
    },
    /// `url` is on none of the sites the source fetches from (its base, home and listings).
    #[error("fetch {url}: not fetched: outside the source's sites{}", .from.as_ref().map(|f| format!(" (redirected from {f})")).unwrap_or_default())]
    OffSite { url: String, from: Option<String> },
}

impl FetchError {
    /// The failure class the metrics, the dashboard and the incident feed name: the one
    /// vocabulary from fetch to dashboard (`model::ErrorKind`).
    pub fn kind(&self) -> ErrorKind {
        match self {
            FetchError::Timeout { .. } => ErrorKind::Timeout,
            FetchError::Status { .. } => ErrorKind::Http,
            FetchError::TooLarge { .. } => ErrorKind::TooLarge,
            FetchError::Redirects { .. } => ErrorKind::Redirects,
            FetchError::Network { .. } => ErrorKind::Network,
            FetchError::Robots { .. } => ErrorKind::Robots,
            FetchError::RobotsUnreadable { cause_kind, .. } => *cause_kind,
            FetchError::OffSite { .. } => ErrorKind::OffSite,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again soon may succeed (server errors, timeouts, network trouble), as
    /// opposed to answers that will not change by retrying (404, robots, oversized pages).
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Timeout { .. } | FetchError::Network { .. } => true,
            FetchError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What one request brought: an answer, or a redirect to follow (redirects are followed by
/// the caller, one request at a time, so that every hop is checked and spaced like a page).
#[derive(Debug, Clone)]
pub enum Hop {
    Answer(Fetched),
    Redirect { status: u16, to: Url },
}

/// The redirects of one fetch so far: where it started, where it is, where it has been.
#[derive(Debug, Clone)]
pub struct RedirectChain {
    seen: Vec<Url>,
    limit: usize,
}

impl RedirectChain {
    pub fn new(start: &Url, limit: usize) -> RedirectChain {
        RedirectChain {
            seen: vec![start.clone()],
            limit,
        }
    }

    /// The URL to request now.
    pub fn current(&self) -> &Url {
        self.seen
            .last()
            .unwrap_or_else(|| unreachable!("a chain starts with one URL"))
    }

    pub fn start(&self) -> &Url {
        &self.seen[0]
    }

    /// Whether the current URL was reached by a redirect.
    pub fn redirected(&self) -> bool {
        self.seen.len() > 1
    }

    /// Moves on to `to`; a loop or a redirect past the limit is an error naming `to`.
    pub fn follow(&mut self, to: Url) -> Result<(), FetchError> {
        let looped = self.seen.contains(&to);
        if looped || self.seen.len() > self.limit {
            return Err(FetchError::Redirects {
                url: to.to_string(),
                from: self.start().to_string(),
                looped,
            });
        }
        self.seen.push(to);
        Ok(())
    }
}

/// The one HTTP client of the process, built from configuration and passed down.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body_bytes: u64,
    max_redirects: usize,
    default_timeout: Duration,
    max_retry_after: Duration,
}

impl Fetcher {
    pub fn new(settings: &FetchSettings) -> Result<Fetcher, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,application/xml;q=0.9,*/*;q=0.8",
            ),
        );
        headers.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("vi,en;q=0.5"),
        );
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .default_headers(headers)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            // Redirects are followed by `get` and the crawler, hop by hop.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FetchError::Network {
                url: String::new(),
                message: format!("build HTTP client: {e}"),
            })?;
        Ok(Fetcher {
            client,
            max_body_bytes: settings.max_body_bytes,
            max_redirects: settings.max_redirects,
            default_timeout: settings.timeout,
            max_retry_after: settings.max_retry_after,
        })
    }

    /// Redirects followed per fetch.
    pub fn max_redirects(&self) -> usize {
        self.max_redirects
    }

    /// GETs `url`, following redirects (each hop with the whole timeout). With `validators`,
    /// asks the server to answer 304 if nothing changed. Any final status other than 2xx and
    /// 304 is an error carrying that status and naming the URL that answered it.
    pub async fn get(
        &self,
        url: &Url,
        timeout: Option<Duration>,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let mut chain = RedirectChain::new(url, self.max_redirects);
        loop {
            match self.get_once(chain.current(), timeout, validators).await? {
                Hop::Answer(fetched) => return Ok(fetched),
                Hop::Redirect { to, .. } => chain.follow(to)?,
            }
        }
    }

    /// One GET of `url`; a redirect is returned, not followed.
    pub async fn get_once(
        &self,
        url: &Url,
        timeout: Option<Duration>,
        validators: Option<&Validators>,
    ) -> Result<Hop, FetchError> {
        self.request_once(url, timeout, validators, None).await
    }

    /// One request to `url`: a GET, or with `form` a POST of that
    /// `application/x-www-form-urlencoded` body (never conditional: what a POST answers is
    /// not a page to keep). A redirect is returned, not followed. The timeout and the body cap
    /// hold for both alike.
    pub async fn request_once(
        &self,
        url: &Url,
        timeout: Option<Duration>,
        validators: Option<&Validators>,
        form: Option<&Bytes>,
    ) -> Result<Hop, FetchError> {
        let timeout = timeout.unwrap_or(self.default_timeout);
        let mut request = match form {
            None => self.client.get(url.clone()),
            Some(body) => self
                .client
                .post(url.clone())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.clone()),
        }
        .timeout(timeout);
        if let Some(validators) = validators.filter(|_| form.is_none()) {
            if let Some(etag) = &validators.etag {
                request = request.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(last_modified) = &validators.last_modified {
                request = request.header(header::IF_MODIFIED_SINCE, last_modified);
            }
        }
        let url_text = url.to_string();
        let classify = |e: reqwest::Error| classify_error(&url_text, timeout, e);
        let mut response = request.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response.headers();
        let header_text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if matches!(status, 301 | 302 | 303 | 307 | 308)
            && let Some(to) = header_text(header::LOCATION)
                .and_then(|location| url.join(location.trim()).ok())
                .filter(|to| matches!(to.scheme(), "http" | "https"))
        {
            return Ok(Hop::Redirect { status, to });
        }
        let validators = Validators {
            etag: header_text(header::ETAG),
            last_modified: header_text(header::LAST_MODIFIED),
        };
        let content_type = header_text(header::CONTENT_TYPE);
        let final_url = url.clone();
        if status == 304 {
            return Ok(Hop::Answer(Fetched {
                url: final_url,
                status,
                body: Bytes::new(),
                content_type,
                validators,
            }));
        }
        if !(200..300).contains(&status) {
            let retry_after = header_text(header::RETRY_AFTER)
                .and_then(|v| parse_retry_after(&v, chrono::Utc::now()))
                .map(|asked| {
                    if asked > self.max_retry_after {
                        tracing::warn!(url = %url, asked_secs = asked.as_secs(), max_secs = self.max_retry_after.as_secs(), "Retry-After longer than max_retry_after_secs: waiting the maximum");
                    }
                    asked.min(self.max_retry_after)
                });
            return Err(FetchError::Status {
                url: url_text,
                status,
                retry_after,
            });
        }
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            limit: self.max_body_bytes,
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body_bytes)
        {
            return Err(too_large());
        }
        // Read chunk by chunk so the cap holds for bodies without a length, endless bodies and
        // compression bombs alike (chunks arrive already decompressed).
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if (body.len() + chunk.len()) as u64 > self.max_body_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Hop::Answer(Fetched {
            url: final_url,
            status,
            body: body.freeze(),
            content_type,
            validators,
        }))
    }
}

fn classify_error(url: &str, timeout: Duration, error: reqwest::Error) -> FetchError {
    if error.is_timeout() {
        FetchError::Timeout {
            url: url.to_owned(),
            after: timeout,
        }
    } else {
        // The innermost cause says what happened ("connection refused", "invalid gzip header").
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message = cause.to_string();
            source = cause.source();
        }
        FetchError::Network {
            url: url.to_owned(),
            message,
        }
    }
}

/// `Retry-After` as seconds or an HTTP date (a date in the past means now), as asked: the
/// caller clamps it. Seconds too many for a `u64` are read as the most a `u64` holds.
fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.signed_duration_since(now);
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// A form's fields as an `application/x-www-form-urlencoded` body, in `encoding` (the page's:
/// that is how a browser submits a form, and how the server reads it back).
/// A page in a charset encoding_rs cannot encode (UTF-16/32, an IBM code page) has its form
/// sent in UTF-8, as HTML's form submission does for UTF-16.
pub fn form_body(fields: &[(String, String)], charset: Charset) -> Bytes {
    let encoding = encoding_rs::Encoding::for_label(charset.name().as_bytes())
        .filter(|e| e.output_encoding() == *e)
        .unwrap_or(encoding_rs::UTF_8);
    // A named signature: closures do not infer the higher-ranked lifetime the serializer needs.
    fn higher_ranked<F: Fn(&str) -> std::borrow::Cow<'_, [u8]>>(f: F) -> F {
        f
    }
    let encode = higher_ranked(|text| encoding.encode(text).0);
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    if encoding != encoding_rs::UTF_8 {
        serializer.encoding_override(Some(&encode));
    }
    for (name, value) in fields {
        serializer.append_pair(name, value);
    }
    Bytes::from(serializer.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_answer_with_validators_is_kept_for_revalidation() {
        let url = Url::parse("http://h/a").unwrap();
        let mut fetched = Fetched {
            url: url.clone(),
            status: 200,
            body: Bytes::from_static(b"<p>a</p>"),
            content_type: Some("text/html".into()),
            validators: Validators::default(),
        };
        assert_eq!(fetched.to_cache(), None, "nothing to revalidate with");
        fetched.validators.etag = Some("\"x\"".into());
        let kept = fetched.to_cache().unwrap();
        let again = Fetched::from_cache(kept, &url);
        assert!(again.not_modified());
        assert_eq!(
            (again.body, again.validators),
            (fetched.body.clone(), fetched.validators.clone())
        );
        fetched.status = 304;
        assert_eq!(fetched.to_cache(), None, "a 304 replaces nothing");
    }

    #[test]
    fn forms_are_encoded_in_the_page_charset() {
        let fields = vec![
            ("__EVENTTARGET".to_owned(), "ctl00$gv".to_owned()),
            ("q".to_owned(), "Thạch Bàn & co".to_owned()),
        ];
        assert_eq!(
            &form_body(&fields, Charset::UTF_8)[..],
            b"__EVENTTARGET=ctl00%24gv&q=Th%E1%BA%A1ch+B%C3%A0n+%26+co"
        );
        // A value read back from a windows-1258 page keeps its tone mark apart, a (0x61) then
        // the dot below (0xF2), and goes back byte for byte; a precomposed letter the charset
        // lacks is sent as a character reference, as browsers do.
        let read_back = vec![("q".to_owned(), "Tha\u{323}ch Bàn & co".to_owned())];
        assert_eq!(
            &form_body(&read_back, Charset::WINDOWS_1258)[..],
            b"q=Tha%F2ch+B%E0n+%26+co"
        );
        assert_eq!(
            &form_body(&fields[1..], Charset::WINDOWS_1258)[..],
            b"q=Th%26%237841%3Bch+B%E0n+%26+co"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_whatever_their_size() {
        let now = chrono::DateTime::parse_from_rfc3339("2023-02-06T01:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("10000000000000", now),
            Some(Duration::from_secs(10_000_000_000_000))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("Mon, 06 Feb 2023 01:02:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now)
                .map(|d| d.as_secs() / 86400 / 365),
            Some(7982)
        );
        assert_eq!(
            parse_retry_after("Sun, 05 Feb 2023 01:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }
}
