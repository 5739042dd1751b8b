//! HTTP semantics of a rendered document: compressed once, strong ETags per encoding,
//! Last-Modified, conditional requests (304), content negotiation, Cache-Control.

use std::io::Write;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};

/// How hard to compress: once per ledger change for cached documents, cheaply for one-off
/// (filtered) responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Best,
    Fast,
}

/// A document in every encoding we serve, with the header values precomputed so that a cached
/// response costs a few reference-count increments.
#[derive(Debug)]
pub struct Representation {
    content_type: HeaderValue,
    bodies: [Bytes; 3],
    etags: [HeaderValue; 3],
    last_modified: HeaderValue,
    modified: DateTime<Utc>,
}

/// Index into `bodies`/`etags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Identity = 0,
    Gzip = 1,
    Brotli = 2,
}

impl Coding {
    fn header(self) -> Option<HeaderValue> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some(HeaderValue::from_static("gzip")),
            Coding::Brotli => Some(HeaderValue::from_static("br")),
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
        let gzip = gzip(&body, effort);
        let brotli = brotli(&body, effort);
        // HTTP dates have second precision; truncate so If-Modified-Since compares exactly.
        let modified = DateTime::<Utc>::from_timestamp(modified.timestamp(), 0).unwrap_or_default();
        let etag = |suffix: &str| {
            HeaderValue::from_str(&format!("\"{tag}{suffix}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
        };
        Representation {
            content_type: HeaderValue::from_static(content_type),
            etags: [etag(""), etag("-gz"), etag("-br")],
            bodies: [Bytes::from(body), Bytes::from(gzip), Bytes::from(brotli)],
            last_modified: HeaderValue::from_str(
                &modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            )
            .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT")),
            modified,
        }
    }

    /// The response to `method` with `headers`: 304 when the client's copy is current, else
    /// the best encoding the client accepts. `max_age` is the Cache-Control lifetime.
    pub fn respond(&self, method: &Method, headers: &HeaderMap, max_age: u64) -> Response {
        let coding = negotiate(headers);
        let mut response = if self.is_current(headers) {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            let body = &self.bodies[coding as usize];
            // HEAD gets the body too: the server drops it but keeps its Content-Length.
            let _ = method;
            let mut response = Response::new(Body::from(body.clone()));
            let response_headers = response.headers_mut();
            response_headers.insert(header::CONTENT_TYPE, self.content_type.clone());
            response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            if let Some(encoding) = coding.header() {
                response_headers.insert(header::CONTENT_ENCODING, encoding);
            }
            response
        };
        let response_headers = response.headers_mut();
        response_headers.insert(header::ETAG, self.etags[coding as usize].clone());
        response_headers.insert(header::LAST_MODIFIED, self.last_modified.clone());
        response_headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        response_headers.insert(header::CACHE_CONTROL, cache_control(max_age));
        response
    }

    /// If-None-Match (any of our encodings' tags, weak comparison) or, without it,
    /// If-Modified-Since at or after our Last-Modified.
    fn is_current(&self, headers: &HeaderMap) -> bool {
        if let Some(value) = headers.get(header::IF_NONE_MATCH) {
            let Ok(value) = value.to_str() else {
                return false;
            };
            return value.split(',').map(str::trim).any(|candidate| {
                let candidate = candidate.strip_prefix("W/").unwrap_or(candidate);
                candidate == "*"
                    || self
                        .etags
                        .iter()
                        .any(|tag| tag.as_bytes() == candidate.as_bytes())
            });
        }
        headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .is_some_and(|since| since >= self.modified)
    }
}

fn cache_control(max_age: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
}

/// The best encoding the client accepts: br, then gzip, then identity.
fn negotiate(headers: &HeaderMap) -> Coding {
    let Some(accept) = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return Coding::Identity;
    };
    let mut brotli = false;
    let mut gzip = false;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let name = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = pieces.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        if refused {
            continue;
        }
        match name.as_str() {
            "br" => brotli = true,
            "gzip" | "x-gzip" => gzip = true,
            "*" => {
                brotli = true;
                gzip = true;
            }
            _ => {}
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
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", "gzip, deflate, br")])),
            Coding::Brotli
        );
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", "gzip;q=0.8, br;q=0")])),
            Coding::Gzip
        );
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", "identity")])),
            Coding::Identity
        );
        assert_eq!(negotiate(&HeaderMap::new()), Coding::Identity);
    }

    #[test]
    fn compressed_bodies_decode_to_the_identity_body() {
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
}
