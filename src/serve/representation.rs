//! HTTP semantics of a rendered document: strong ETags per encoding, Last-Modified,
//! conditional requests (304), content negotiation, Cache-Control. A kept document answers
//! from `Bytes` and precomputed header values: an answer costs a few reference-count
//! increments. Its gzip and brotli forms are built on the first request that asks for each,
//! then kept with it: a document nobody asks compressed never costs the memory (at 10,000
//! sources, every render kept three bodies). Likewise the plain body is let go once a
//! compressed form exists, until a client asks for it plain (feed readers and browsers all ask
//! gzip or brotli): it is then decompressed from the kept form, and kept.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};

/// How hard to compress: once per ledger change for kept documents, cheaply for one-off
/// (filtered) responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Best,
    Fast,
}

/// A document with the encodings asked for so far, and its header values precomputed.
#[derive(Debug)]
pub struct Representation {
    content_type: HeaderValue,
    /// The plain body while it is needed: until a compressed form is built, and for good once
    /// a client has asked for it.
    identity: Mutex<Plain>,
    /// gzip and brotli, each built on first use.
    compressed: [OnceLock<Bytes>; 2],
    effort: Effort,
    etags: [HeaderValue; 3],
    last_modified: HeaderValue,
    modified: DateTime<Utc>,
    /// `SERVED` when last answered (or made): the document cache drops the least recently
    /// served first.
    last_served: AtomicU64,
}

/// The plain body, if held, and whether a client ever asked for it (one lock for both, so a
/// compression never lets go of a body a client has just asked to keep).
#[derive(Debug)]
struct Plain {
    body: Option<Bytes>,
    asked: bool,
}

/// A process-wide count of answers, the clock of `last_served` (an order, not a time).
static SERVED: AtomicU64 = AtomicU64::new(0);

/// Index into `etags` (and, less one, `compressed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Identity = 0,
    Gzip = 1,
    Brotli = 2,
}

impl Coding {
    fn name(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip"),
            Coding::Brotli => Some("br"),
        }
    }
}

impl Representation {
    pub fn new(
        content_type: &'static str,
        body: Vec<u8>,
        modified: DateTime<FixedOffset>,
        effort: Effort,
    ) -> Representation {
        let hash = blake3::hash(&body);
        let tag: String = hash.as_bytes()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // HTTP dates have second precision; truncate so If-Modified-Since compares exactly.
        let modified = DateTime::<Utc>::from_timestamp(modified.timestamp(), 0).unwrap_or_default();
        let etag = |suffix: &str| {
            HeaderValue::from_str(&format!("\"{tag}{suffix}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
        };
        Representation {
            content_type: HeaderValue::from_static(content_type),
            etags: [etag(""), etag("-gz"), etag("-br")],
            identity: Mutex::new(Plain {
                body: Some(kept(body)),
                asked: false,
            }),
            compressed: [OnceLock::new(), OnceLock::new()],
            effort,
            last_served: AtomicU64::new(SERVED.fetch_add(1, Ordering::Relaxed)),
            last_modified: HeaderValue::from_str(&http_date(modified))
                .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT")),
            modified,
        }
    }

    /// The body in `coding`, compressed now if this is the first request for it; an error
    /// only if compressing failed or a kept form of ours no longer decompresses.
    fn body(&self, coding: Coding) -> Result<Bytes, String> {
        let (slot, compress): (_, Compressor) = match coding {
            Coding::Identity => return self.plain(true),
            Coding::Gzip => (&self.compressed[0], gzip),
            Coding::Brotli => (&self.compressed[1], brotli),
        };
        // A kept form: no lock taken.
        if let Some(body) = slot.get() {
            return Ok(body.clone());
        }
        let made = compress(&self.plain(false)?, self.effort)?;
        let body = slot.get_or_init(|| kept(made)).clone();
        let mut plain = self.plain_held();
        if !plain.asked {
            plain.body = None;
        }
        Ok(body)
    }

    /// The plain body: the one held, or one decompressed from a kept form (outside the lock).
    /// `asked`: a client asks for it plain, so it is held from now on.
    fn plain(&self, asked: bool) -> Result<Bytes, String> {
        {
            let mut plain = self.plain_held();
            plain.asked |= asked;
            if let Some(body) = &plain.body {
                return Ok(body.clone());
            }
        }
        let body = kept(match (self.compressed[0].get(), self.compressed[1].get()) {
            (Some(gzipped), _) => gunzip(gzipped)?,
            (None, Some(compressed)) => unbrotli(compressed)?,
            (None, None) => {
                return Err("the plain body was let go with no compressed form kept".into());
            }
        });
        if asked {
            let mut plain = self.plain_held();
            plain.body.get_or_insert_with(|| body.clone());
        }
        Ok(body)
    }

    /// The plain body's lock (a panic while it was held leaves nothing half-written).
    fn plain_held(&self) -> MutexGuard<'_, Plain> {
        self.identity.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether answering `headers` would compress (the first request for an encoding): the
    /// caller then answers off the async workers (a brotli pass over a large document takes
    /// a while).
    pub fn must_compress(&self, headers: &HeaderMap) -> bool {
        let coding = negotiate(
            headers
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok()),
        );
        match coding {
            // Decompressed from a kept form when it was let go.
            Coding::Identity => self.plain_held().body.is_none(),
            Coding::Gzip => self.compressed[0].get().is_none(),
            Coding::Brotli => self.compressed[1].get().is_none(),
        }
    }

    /// Bytes held: the plain body (while held) and the compressed forms built so far.
    pub fn held_bytes(&self) -> usize {
        let plain = self.plain_held().body.as_ref().map_or(0, Bytes::len);
        plain
            + self
                .compressed
                .iter()
                .filter_map(OnceLock::get)
                .map(Bytes::len)
                .sum::<usize>()
    }

    /// When it was last answered, as an order among every representation's answers.
    pub fn last_served(&self) -> u64 {
        self.last_served.load(Ordering::Relaxed)
    }

    /// The hyper response to a request. `max_age` is the Cache-Control lifetime.
    pub fn respond(&self, headers: &HeaderMap, max_age: u64) -> Response {
        self.last_served
            .store(SERVED.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let coding = negotiate(text(header::ACCEPT_ENCODING));
        let not_modified =
            self.is_current(text(header::IF_NONE_MATCH), text(header::IF_MODIFIED_SINCE));
        let mut response = if not_modified {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            let body = match self.body(coding) {
                Ok(body) => body,
                Err(error) => {
                    // Never a body that is not the document: the reader tries again.
                    tracing::error!(%error, "a kept document could not be answered");
                    let mut response = Response::new(Body::from("document unavailable"));
                    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    return response;
                }
            };
            // HEAD gets the body too: hyper drops it but keeps its Content-Length.
            let length = body.len();
            let mut response = Response::new(Body::from(body));
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, self.content_type.clone());
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            if let Some(name) = coding.name() {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
            }
            response
        };
        let h = response.headers_mut();
        h.insert(header::ETAG, self.etags[coding as usize].clone());
        h.insert(header::LAST_MODIFIED, self.last_modified.clone());
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        h.insert(header::CACHE_CONTROL, cache_control(max_age));
        response
    }

    /// If-None-Match (any of our encodings' tags, weak comparison) or, without it,
    /// If-Modified-Since at or after our Last-Modified.
    fn is_current(&self, if_none_match: Option<&str>, if_modified_since: Option<&str>) -> bool {
        if let Some(value) = if_none_match {
            return value.split(',').map(str::trim).any(|candidate| {
                let candidate = candidate.strip_prefix("W/").unwrap_or(candidate);
                candidate == "*"
                    || self
                        .etags
                        .iter()
                        .any(|tag| tag.as_bytes() == candidate.as_bytes())
            });
        }
        if_modified_since
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .is_some_and(|since| since >= self.modified)
    }
}

/// An HTTP date (IMF-fixdate).
fn http_date(time: DateTime<Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn cache_control(max_age: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
}

/// The best encoding the client accepts: br, then gzip, then identity.
fn negotiate(accept: Option<&str>) -> Coding {
    let Some(accept) = accept else {
        return Coding::Identity;
    };
    let mut brotli = false;
    let mut gzip = false;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let name = pieces.next().unwrap_or("").trim();
        let refused = pieces.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        if refused {
            continue;
        }
        if name.eq_ignore_ascii_case("br") {
            brotli = true;
        } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            gzip = true;
        } else if name == "*" {
            brotli = true;
            gzip = true;
        }
    }
    if brotli {
        Coding::Brotli
    } else if gzip {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// A body to keep, in an allocation of its own length: a compressor's or renderer's buffer
/// grows ahead of what it writes (a gzip buffer sized for a quarter of the plain body held
/// about twice its output), and `Bytes::from` a `Vec` with spare room keeps all of it, for as
/// long as the document is cached and unseen by the cache's byte budget. glibc's realloc
/// shrinks in place (the tail freed, a mapped block remapped): no copy.
fn kept(mut body: Vec<u8>) -> Bytes {
    body.shrink_to_fit();
    Bytes::from(body)
}

fn gzip(body: &[u8], effort: Effort) -> Result<Vec<u8>, String> {
    let level = match effort {
        Effort::Best => flate2::Compression::best(),
        Effort::Fast => flate2::Compression::fast(),
    };
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), level);
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .map_err(|error| format!("gzip: {error}"))
}

/// Makes a compressed form of a body (`gzip`, `brotli`).
type Compressor = fn(&[u8], Effort) -> Result<Vec<u8>, String>;

/// A gzip body we made, decompressed.
fn gunzip(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len() * 4);
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .map_err(|error| format!("a kept gzip body does not decompress: {error}"))?;
    Ok(out)
}

/// A brotli body we made, decompressed.
fn unbrotli(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len() * 4);
    brotli::BrotliDecompress(&mut &body[..], &mut out)
        .map_err(|error| format!("a kept brotli body does not decompress: {error}"))?;
    Ok(out)
}

fn brotli(body: &[u8], effort: Effort) -> Result<Vec<u8>, String> {
    // Quality 11 takes seconds on a large feed; 9 keeps most of the gain.
    let quality = match effort {
        Effort::Best => 9,
        Effort::Fast => 3,
    };
    let params = brotli::enc::BrotliEncoderParams {
        quality,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(body.len() / 4);
    brotli::BrotliCompress(&mut &body[..], &mut out, &params)
        .map_err(|error| format!("brotli: {error}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn repr() -> Representation {
        let modified = DateTime::parse_from_rfc3339("2023-01-30T11:00:00.250+07:00").unwrap();
        Representation::new(
            "application/rss+xml; charset=utf-8",
            "<rss>Phúc Lợi</rss>".repeat(50).into_bytes(),
            modified,
            Effort::Best,
        )
    }

    #[test]
    fn negotiates_br_then_gzip_then_identity() {
        assert_eq!(negotiate(Some("gzip, deflate, br")), Coding::Brotli);
        assert_eq!(negotiate(Some("gzip;q=0.8, br;q=0")), Coding::Gzip);
        assert_eq!(negotiate(Some("identity")), Coding::Identity);
        assert_eq!(negotiate(None), Coding::Identity);
    }

    fn body_of(response: Response) -> Vec<u8> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap()
            .to_vec()
    }

    #[test]
    fn compressed_bodies_are_built_when_first_asked_and_the_plain_one_is_let_go() {
        let repr = repr();
        let plain = "<rss>Phúc Lợi</rss>".repeat(50).into_bytes();
        assert_eq!(
            repr.held_bytes(),
            plain.len(),
            "nothing compressed before a request"
        );
        assert!(!repr.must_compress(&headers(&[])));
        let gzip = headers(&[("accept-encoding", "gzip")]);
        assert!(repr.must_compress(&gzip));
        let gzipped = body_of(repr.respond(&gzip, 60));
        assert!(!repr.must_compress(&gzip));
        assert_eq!(repr.compressed[0].get().unwrap()[..], gzipped[..]);
        assert_eq!(
            repr.held_bytes(),
            gzipped.len(),
            "the plain body is let go once nobody asked for it and a compressed form is kept"
        );
        assert!(
            repr.compressed[1].get().is_none(),
            "brotli not asked for yet"
        );
        assert_eq!(gunzip(&gzipped).unwrap(), plain);
        // Brotli is made from the plain body decompressed from the kept gzip.
        let brotli = headers(&[("accept-encoding", "br")]);
        assert!(repr.must_compress(&brotli));
        let unbrotlied = unbrotli(&body_of(repr.respond(&brotli, 60))).unwrap();
        assert_eq!(unbrotlied, plain);
        assert!(gzipped.len() < plain.len());
        // A client that asks for it plain gets it (decompressed, off the async workers), and
        // from then on it is kept.
        assert!(repr.must_compress(&headers(&[])));
        let response = repr.respond(&headers(&[]), 60);
        assert_eq!(
            response.headers()[header::CONTENT_LENGTH],
            plain.len().to_string().as_str()
        );
        assert_eq!(response.headers()[header::ETAG], repr.etags[0]);
        assert_eq!(body_of(response), plain);
        assert!(!repr.must_compress(&headers(&[])));
        let held = plain.len() + gzipped.len() + repr.compressed[1].get().unwrap().len();
        assert_eq!(repr.held_bytes(), held);
    }

    #[test]
    fn a_plain_body_asked_first_is_kept_beside_the_compressed_forms() {
        let repr = repr();
        let plain = body_of(repr.respond(&headers(&[]), 60));
        let _ = repr.respond(&headers(&[("accept-encoding", "gzip")]), 60);
        assert_eq!(
            repr.held_bytes(),
            plain.len() + repr.compressed[0].get().unwrap().len()
        );
    }

    #[test]
    fn conditional_requests_get_304() {
        let repr = repr();
        let etag = repr.etags[0].to_str().unwrap().to_owned();
        let gz_etag = repr.etags[1].to_str().unwrap().to_owned();
        for inm in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {gz_etag}"),
            "*".into(),
        ] {
            let response = repr.respond(&headers(&[("if-none-match", &inm)]), 60);
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{inm}");
        }
        let response = repr.respond(&headers(&[("if-none-match", "\"other\"")]), 60);
        assert_eq!(response.status(), StatusCode::OK);
        let since = repr.last_modified.to_str().unwrap().to_owned();
        let response = repr.respond(&headers(&[("if-modified-since", &since)]), 60);
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        let earlier = "Mon, 30 Jan 2023 03:59:59 GMT";
        let response = repr.respond(&headers(&[("if-modified-since", earlier)]), 60);
        assert_eq!(response.status(), StatusCode::OK);
        // If-None-Match wins over If-Modified-Since.
        let response = repr.respond(
            &headers(&[
                ("if-none-match", "\"other\""),
                ("if-modified-since", &since),
            ]),
            60,
        );
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn responses_carry_validators_type_length_and_vary() {
        let repr = repr();
        let response = repr.respond(&headers(&[("accept-encoding", "gzip")]), 300);
        let h = response.headers();
        assert_eq!(h[header::CONTENT_ENCODING], "gzip");
        assert_eq!(
            h[header::CONTENT_LENGTH],
            repr.compressed[0].get().unwrap().len().to_string().as_str()
        );
        assert_eq!(h[header::CACHE_CONTROL], "public, max-age=300");
        assert_eq!(h[header::VARY], "Accept-Encoding");
        assert_eq!(h[header::LAST_MODIFIED], "Mon, 30 Jan 2023 04:00:00 GMT");
        assert!(h[header::ETAG].to_str().unwrap().ends_with("-gz\""));
        assert_eq!(
            h[header::CONTENT_TYPE],
            "application/rss+xml; charset=utf-8"
        );
    }
}
