//! Fetching pages: one HTTP client with timeouts, a body-size cap, a redirect limit, compressed
//! transfer, conditional requests, and charset detection for the bytes that come back;
//! `polite` adds robots.txt, per-host spacing and retries on top.

pub mod polite;
pub mod robots;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use encoding_rs::{Encoding, UTF_8};
use reqwest::header::{self, HeaderMap, HeaderValue};
use url::Url;

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

    /// The body as text, and the encoding it was read in, as `decode` decides.
    pub fn text(&self, forced: Option<&'static Encoding>) -> (String, &'static Encoding) {
        decode(&self.body, self.content_type.as_deref(), forced)
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

    /// One request to `url`; a redirect is returned, not followed.
    pub async fn get_once(
        &self,
        url: &Url,
        timeout: Option<Duration>,
        validators: Option<&Validators>,
    ) -> Result<Hop, FetchError> {
        let timeout = timeout.unwrap_or(self.default_timeout);
        let mut request = self.client.get(url.clone()).timeout(timeout);
        if let Some(validators) = validators {
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

/// Decodes page bytes. The encoding is, in order: the source's forced charset; a byte-order
/// mark (as browsers do: a BOM is never accidental, while portals often send a stale header);
/// the `charset` of the Content-Type header; a `<meta>` declaration in the first 4 KiB;
/// UTF-8. A declared single-byte charset is overruled when the bytes are valid UTF-8 with
/// non-ASCII text in them: such text is never meant as windows-125x, while a CMS template
/// that still declares an old charset is common. Undecodable bytes become U+FFFD, never an
/// error (the pipeline judges whether there are too many).
pub fn decode(
    body: &[u8],
    content_type: Option<&str>,
    forced: Option<&'static Encoding>,
) -> (String, &'static Encoding) {
    let bom = Encoding::for_bom(body).map(|(encoding, _)| encoding);
    let declared = content_type
        .and_then(header_charset)
        .or_else(|| meta_charset(body));
    let encoding = match (forced, bom, declared) {
        (Some(forced), _, _) => forced,
        (None, Some(bom), _) => bom,
        (None, None, Some(declared)) if declared != UTF_8 && looks_utf8(body) => UTF_8,
        (None, None, Some(declared)) => declared,
        (None, None, None) => UTF_8,
    };
    let (text, _) = encoding.decode_with_bom_removal(body);
    (text.into_owned(), encoding)
}

/// Valid UTF-8 containing at least one multi-byte sequence.
fn looks_utf8(body: &[u8]) -> bool {
    !body.is_ascii() && std::str::from_utf8(body).is_ok()
}

fn header_charset(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| Encoding::for_label(value.trim().trim_matches(['"', '\'']).as_bytes()))
            .flatten()
    })
}

/// Finds `<meta charset=…>` or `<meta http-equiv=… content="…; charset=…">` in the head.
fn meta_charset(body: &[u8]) -> Option<&'static Encoding> {
    let head = &body[..body.len().min(4096)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(at) = find(&lower[from..], b"<meta") {
        let start = from + at;
        let end = find(&lower[start..], b">").map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(pos) = find(tag, b"charset") {
            let rest = &tag[pos + b"charset".len()..];
            let rest = trim_start(rest);
            if let Some(rest) = rest.strip_prefix(b"=") {
                let rest = trim_start(rest);
                let rest = rest
                    .strip_prefix(b"\"")
                    .or_else(|| rest.strip_prefix(b"'"))
                    .unwrap_or(rest);
                let label_len = rest
                    .iter()
                    .position(|b| !(b.is_ascii_alphanumeric() || b"-_:.".contains(b)))
                    .unwrap_or(rest.len());
                if let Some(encoding) = Encoding::for_label(&rest[..label_len]) {
                    // A page cannot declare itself UTF-16 in ASCII-compatible bytes.
                    return Some(
                        if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
                            UTF_8
                        } else {
                            encoding
                        },
                    );
                }
            }
        }
        from = end.max(start + 1);
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[skip..]
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
    fn header_charset_is_used() {
        let bytes = b"<p>\xe0</p>";
        let (_, enc) = decode(bytes, Some("text/html; charset=ISO-8859-1"), None);
        assert_eq!(enc.name(), "windows-1252");
    }

    #[test]
    fn meta_declaration_is_found_when_the_header_is_bare() {
        let page = b"<HTML><HEAD><META http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1258\"></HEAD>";
        let (_, enc) = decode(page, Some("text/html"), None);
        assert_eq!(enc.name(), "windows-1258");
        let (_, enc) = decode(b"<meta charset='utf-8'>", None, None);
        assert_eq!(enc, UTF_8);
    }

    #[test]
    fn windows_1258_decodes_to_combining_marks_that_nfc_composes() {
        // "Thạch" in windows-1258: a, then the combining dot below (0xF2).
        let (text, _) = decode(b"Tha\xf2ch", Some("text/html; charset=windows-1258"), None);
        assert_eq!(crate::normalize::clean_text(&text), "Thạch");
    }

    #[test]
    fn bom_wins_over_a_stale_header_and_forced_charset_wins_over_all() {
        let (text, enc) = decode(
            b"\xef\xbb\xbfPh\xc3\xbac",
            Some("text/html; charset=windows-1252"),
            None,
        );
        assert_eq!((text.as_str(), enc), ("Phúc", UTF_8));
        let (_, enc) = decode(b"\xef\xbb\xbfx", None, Some(encoding_rs::WINDOWS_1258));
        assert_eq!(enc, encoding_rs::WINDOWS_1258);
    }

    #[test]
    fn valid_utf8_overrules_a_stale_single_byte_declaration() {
        let page = "<meta charset=\"windows-1252\"><p>Phường Phúc Lợi</p>".as_bytes();
        let (text, enc) = decode(page, Some("text/html; charset=iso-8859-1"), None);
        assert_eq!(enc, UTF_8);
        assert!(text.contains("Phường Phúc Lợi"));
        // Real windows-1258 bytes are not valid UTF-8: the declaration stands.
        let (_, enc) = decode(
            b"Tha\xf2ch B\xe0n",
            Some("text/html; charset=windows-1258"),
            None,
        );
        assert_eq!(enc, encoding_rs::WINDOWS_1258);
    }

    #[test]
    fn unknown_labels_fall_back_to_utf8() {
        let (text, enc) = decode("Lợi".as_bytes(), Some("text/html; charset=klingon"), None);
        assert_eq!((text.as_str(), enc), ("Lợi", UTF_8));
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
