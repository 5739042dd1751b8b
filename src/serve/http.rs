//! HTTP semantics of a rendered document: compressed once, strong ETags per encoding,
//! Last-Modified, conditional requests (304), content negotiation, Cache-Control — decided
//! once here and written either as a hyper response or as raw bytes by the fast path.

use std::io::Write;
use std::os::fd::OwnedFd;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
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

/// The request headers that decide an answer, however the request was parsed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    pub accept_encoding: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
    pub head: bool,
}

impl<'a> Conditions<'a> {
    pub fn from_headers(method: &Method, headers: &'a HeaderMap) -> Conditions<'a> {
        let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        Conditions {
            accept_encoding: text(header::ACCEPT_ENCODING),
            if_none_match: text(header::IF_NONE_MATCH),
            if_modified_since: text(header::IF_MODIFIED_SINCE),
            head: method == Method::HEAD,
        }
    }
}

/// A document in every encoding we serve, with the header values precomputed so that an
/// answer costs a few reference-count increments. Each body also lives in a memfd, so the
/// fast path can `sendfile` it as a static file server would.
#[derive(Debug)]
pub struct Representation {
    content_type: HeaderValue,
    bodies: [Bytes; 3],
    files: [Option<OwnedFd>; 3],
    etags: [HeaderValue; 3],
    last_modified: HeaderValue,
    modified: DateTime<Utc>,
}

/// Index into `bodies`/`files`/`etags`.
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

/// What to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub not_modified: bool,
    pub coding: Coding,
    /// Whether a body goes out (not for 304, not for HEAD).
    pub with_body: bool,
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
        let gzip = gzip(&body, effort);
        let brotli = brotli(&body, effort);
        // HTTP dates have second precision; truncate so If-Modified-Since compares exactly.
        let modified = DateTime::<Utc>::from_timestamp(modified.timestamp(), 0).unwrap_or_default();
        let etag = |suffix: &str| {
            HeaderValue::from_str(&format!("\"{tag}{suffix}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
        };
        let bodies = [Bytes::from(body), Bytes::from(gzip), Bytes::from(brotli)];
        // Only kept documents are sent by the fast path; one-off renders skip the memfds.
        let files = match effort {
            Effort::Best => [0, 1, 2].map(|i| memfd(&bodies[i])),
            Effort::Fast => [None, None, None],
        };
        Representation {
            content_type: HeaderValue::from_static(content_type),
            etags: [etag(""), etag("-gz"), etag("-br")],
            bodies,
            files,
            last_modified: HeaderValue::from_str(&http_date(modified))
                .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT")),
            modified,
        }
    }

    /// 304 when the client's copy is current, else the best encoding it accepts.
    pub fn decide(&self, conditions: &Conditions<'_>) -> Decision {
        let coding = negotiate(conditions.accept_encoding);
        let not_modified = self.is_current(conditions);
        Decision {
            not_modified,
            coding,
            with_body: !not_modified && !conditions.head,
        }
    }

    /// The hyper response to a request. `max_age` is the Cache-Control lifetime.
    pub fn respond(&self, method: &Method, headers: &HeaderMap, max_age: u64) -> Response {
        let decision = self.decide(&Conditions::from_headers(method, headers));
        let coding = decision.coding as usize;
        let mut response = if decision.not_modified {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            // HEAD gets the body too: the server drops it but keeps its Content-Length.
            let mut response = Response::new(Body::from(self.bodies[coding].clone()));
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, self.content_type.clone());
            h.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(self.bodies[coding].len()),
            );
            if let Some(name) = decision.coding.name() {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
            }
            response
        };
        let h = response.headers_mut();
        h.insert(header::ETAG, self.etags[coding].clone());
        h.insert(header::LAST_MODIFIED, self.last_modified.clone());
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        h.insert(header::CACHE_CONTROL, cache_control(max_age));
        response
    }

    /// The status line and headers of the answer, as raw HTTP/1.1 bytes, for the fast path.
    /// `date` is the current HTTP date; `close` adds `Connection: close`.
    pub fn write_head(
        &self,
        decision: &Decision,
        max_age: u64,
        date: &str,
        close: bool,
        out: &mut Vec<u8>,
    ) {
        let coding = decision.coding as usize;
        if decision.not_modified {
            out.extend_from_slice(b"HTTP/1.1 304 Not Modified\r\n");
        } else {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-type: ");
            out.extend_from_slice(self.content_type.as_bytes());
            let _ = write!(out, "\r\ncontent-length: {}\r\n", self.bodies[coding].len());
            if let Some(name) = decision.coding.name() {
                let _ = write!(out, "content-encoding: {name}\r\n");
            }
        }
        out.extend_from_slice(b"etag: ");
        out.extend_from_slice(self.etags[coding].as_bytes());
        out.extend_from_slice(b"\r\nlast-modified: ");
        out.extend_from_slice(self.last_modified.as_bytes());
        let _ = write!(
            out,
            "\r\nvary: Accept-Encoding\r\ncache-control: public, max-age={max_age}\r\ndate: {date}\r\n"
        );
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The body of `coding` as a file, when one could be made.
    pub fn file(&self, coding: Coding) -> Option<(&OwnedFd, usize)> {
        let i = coding as usize;
        self.files[i].as_ref().map(|fd| (fd, self.bodies[i].len()))
    }

    /// If-None-Match (any of our encodings' tags, weak comparison) or, without it,
    /// If-Modified-Since at or after our Last-Modified.
    fn is_current(&self, conditions: &Conditions<'_>) -> bool {
        if let Some(value) = conditions.if_none_match {
            return value.split(',').map(str::trim).any(|candidate| {
                let candidate = candidate.strip_prefix("W/").unwrap_or(candidate);
                candidate == "*"
                    || self
                        .etags
                        .iter()
                        .any(|tag| tag.as_bytes() == candidate.as_bytes())
            });
        }
        conditions
            .if_modified_since
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .is_some_and(|since| since >= self.modified)
    }
}

/// An HTTP date (IMF-fixdate).
pub fn http_date(time: DateTime<Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The body in an anonymous in-memory file, for `sendfile`. `None` if the kernel refuses
/// (the hyper path then serves it from memory).
fn memfd(body: &[u8]) -> Option<OwnedFd> {
    let fd = rustix::fs::memfd_create("wardfeed-document", rustix::fs::MemfdFlags::CLOEXEC).ok()?;
    let mut written = 0;
    while written < body.len() {
        match rustix::io::write(&fd, &body[written..]) {
            Ok(0) | Err(_) => return None,
            Ok(n) => written += n,
        }
    }
    Some(fd)
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

fn gzip(body: &[u8], effort: Effort) -> Vec<u8> {
    let level = match effort {
        Effort::Best => flate2::Compression::best(),
        Effort::Fast => flate2::Compression::fast(),
    };
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), level);
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

fn brotli(body: &[u8], effort: Effort) -> Vec<u8> {
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
    let _ = brotli::BrotliCompress(&mut &body[..], &mut out, &params);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

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

    #[test]
    fn compressed_bodies_and_files_hold_the_identity_body() {
        let repr = repr();
        let mut gunzipped = Vec::new();
        flate2::read::GzDecoder::new(&repr.bodies[1][..])
            .read_to_end(&mut gunzipped)
            .unwrap();
        assert_eq!(gunzipped, repr.bodies[0]);
        let mut unbrotli = Vec::new();
        brotli::BrotliDecompress(&mut &repr.bodies[2][..], &mut unbrotli).unwrap();
        assert_eq!(unbrotli, repr.bodies[0]);
        assert!(repr.bodies[1].len() < repr.bodies[0].len());
        let (fd, len) = repr.file(Coding::Gzip).expect("memfd");
        let mut file = std::fs::File::from(fd.try_clone().unwrap());
        let mut copy = Vec::new();
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut copy).unwrap();
        assert_eq!((copy.len(), &copy[..]), (len, &repr.bodies[1][..]));
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
            let response = repr.respond(&Method::GET, &headers(&[("if-none-match", &inm)]), 60);
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{inm}");
        }
        let response = repr.respond(
            &Method::GET,
            &headers(&[("if-none-match", "\"other\"")]),
            60,
        );
        assert_eq!(response.status(), StatusCode::OK);
        let since = repr.last_modified.to_str().unwrap().to_owned();
        let response = repr.respond(&Method::GET, &headers(&[("if-modified-since", &since)]), 60);
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        let earlier = "Mon, 30 Jan 2023 03:59:59 GMT";
        let response = repr.respond(
            &Method::GET,
            &headers(&[("if-modified-since", earlier)]),
            60,
        );
        assert_eq!(response.status(), StatusCode::OK);
        // If-None-Match wins over If-Modified-Since.
        let response = repr.respond(
            &Method::GET,
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
        let response = repr.respond(&Method::HEAD, &headers(&[("accept-encoding", "gzip")]), 300);
        let h = response.headers();
        assert_eq!(h[header::CONTENT_ENCODING], "gzip");
        assert_eq!(
            h[header::CONTENT_LENGTH],
            repr.bodies[1].len().to_string().as_str()
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

    #[test]
    fn raw_heads_match_the_hyper_answer() {
        let repr = repr();
        let conditions = Conditions {
            accept_encoding: Some("br"),
            ..Conditions::default()
        };
        let decision = repr.decide(&conditions);
        let mut head = Vec::new();
        repr.write_head(
            &decision,
            120,
            "Sun, 22 Nov 2026 20:00:00 GMT",
            false,
            &mut head,
        );
        let text = String::from_utf8(head).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains(&format!("content-length: {}\r\n", repr.bodies[2].len())));
        assert!(text.contains("content-encoding: br\r\n"));
        assert!(text.contains("cache-control: public, max-age=120\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let etag = repr.etags[2].to_str().unwrap();
        let conditions = Conditions {
            accept_encoding: Some("br"),
            if_none_match: Some(etag),
            ..Conditions::default()
        };
        let decision = repr.decide(&conditions);
        assert!(decision.not_modified && !decision.with_body);
        let mut head = Vec::new();
        repr.write_head(&decision, 0, "x", true, &mut head);
        let text = String::from_utf8(head).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 304 Not Modified\r\n") && !text.contains("content-length")
        );
        assert!(text.contains("connection: close\r\n"));
    }
}
