//! Bytes to text, for pages (HTML's rules) and feeds (XML's rules), in every encoding
//! `charset` can decode; a declared encoding that cannot be decoded is said, never guessed
//! silently.

use crate::charset::Charset;

/// A body decoded, the encoding it was read in, and what the reader should know about that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub text: String,
    pub charset: Charset,
    /// Why the encoding is not the one the document (or server) declared, if it is not.
    pub warning: Option<String>,
}

/// What a document or its server said its encoding is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Declared {
    Known(Charset),
    /// A label no crate here decodes (`viscii`, `x-mac-greek`), as written.
    Unknown(String),
}

impl Declared {
    fn from_label(label: &str) -> Declared {
        match Charset::for_label(label) {
            Some(charset) => Declared::Known(charset),
            None => Declared::Unknown(label.trim().trim_matches(['"', '\'']).to_owned()),
        }
    }
}

/// Decodes page bytes. The encoding is, in order: the source's forced charset; a byte-order
/// mark (as browsers do: a BOM is never accidental, while portals often send a stale header);
/// the `charset` of the Content-Type header; a `<meta>` declaration in the first 4 KiB;
/// UTF-8. A declared single-byte charset is overruled when the bytes are valid UTF-8 with
/// non-ASCII text in them: such text is never meant as windows-125x, while a CMS template
/// that still declares an old charset is common (a warning says so). Undecodable bytes become
/// U+FFFD, never an error (the pipeline judges whether there are too many).
pub fn html(body: &[u8], content_type: Option<&str>, forced: Option<Charset>) -> Text {
    let declared = content_type.and_then(header_charset).or_else(|| {
        meta_charset(body).map(|label| {
            // A page cannot declare itself UTF-16 in ASCII-compatible bytes.
            match Declared::from_label(&label) {
                Declared::Known(c) if !c.is_ascii_compatible() => Declared::Known(Charset::UTF_8),
                other => other,
            }
        })
    });
    decode(body, forced, declared, None, "page")
}

/// Decodes feed bytes by XML's rules (RFC 7303 and XML 1.0 Appendix F): the source's forced
/// charset; a byte-order mark; the HTTP `charset`; the UTF-16/UTF-32 layout of the first
/// bytes; the XML declaration's `encoding` (when it names an encoding the first bytes can
/// be read in); UTF-8. A stale single-byte declaration over valid UTF-8 is overruled as for
/// pages.
pub fn xml(body: &[u8], content_type: Option<&str>, forced: Option<Charset>) -> Text {
    let sniffed = Charset::sniff_xml(body);
    let declared = content_type.and_then(header_charset).or_else(|| {
        let label = declared_encoding(body, sniffed.unwrap_or(Charset::UTF_8))?;
        Some(match (Declared::from_label(&label), sniffed) {
            // The first bytes say UTF-16/32 and the declaration names that family (or a
            // byte order the bytes contradict): the bytes decide.
            (Declared::Known(_), Some(sniffed)) => Declared::Known(sniffed),
            // An ASCII-compatible document cannot be in an encoding that is not.
            (Declared::Known(c), None) if !c.is_ascii_compatible() => {
                Declared::Known(Charset::UTF_8)
            }
            (other, _) => other,
        })
    });
    if forced.is_none()
        && Charset::for_bom(body).is_none()
        && body.starts_with(&[0x4C, 0x6F, 0xA7, 0x94])
    {
        // Appendix F: `<?xm` in EBCDIC, a family no maintained crate decodes.
        let declared = Some(Declared::Unknown("EBCDIC".to_owned()));
        return decode(body, forced, declared, None, "feed");
    }
    decode(body, forced, declared, sniffed, "feed")
}

fn decode(
    body: &[u8],
    forced: Option<Charset>,
    declared: Option<Declared>,
    sniffed: Option<Charset>,
    what: &str,
) -> Text {
    let bom = Charset::for_bom(body);
    let (charset, warning) = match (forced, bom, declared) {
        (Some(forced), _, _) => (forced, None),
        (None, Some((bom, _)), _) => (bom, None),
        (None, None, Some(Declared::Known(declared)))
            if declared.is_single_byte() && looks_utf8(body) =>
        {
            let warning = format!(
                "the {what} declares {declared} but is valid UTF-8: read as UTF-8 (set `charset` for the source if that is wrong)"
            );
            (Charset::UTF_8, Some(warning))
        }
        (None, None, Some(Declared::Known(declared))) => (declared, None),
        (None, None, Some(Declared::Unknown(label))) => {
            let fallback = sniffed.unwrap_or(Charset::UTF_8);
            let warning = format!(
                "the {what} declares the encoding {label:?}, which wardfeed cannot decode: read as {fallback} (set `charset` for the source to one it can)"
            );
            (fallback, Some(warning))
        }
        (None, None, None) => (sniffed.unwrap_or(Charset::UTF_8), None),
    };
    let without_bom = match bom {
        Some((bom, length)) if bom == charset => &body[length..],
        _ => body,
    };
    let decoded = charset.decode(without_bom);
    let warning = match (warning, decoded.malformed) {
        (warning, 0) => warning,
        (warning, malformed) => {
            let replaced = format!(
                "{malformed} byte sequences are not {charset} and were replaced (set `charset` for the source if the {what} is in another encoding)"
            );
            Some(warning.map_or(replaced.clone(), |w| format!("{w}; {replaced}")))
        }
    };
    Text {
        text: decoded.text,
        charset,
        warning,
    }
}

/// Valid UTF-8 containing at least one multi-byte sequence.
fn looks_utf8(body: &[u8]) -> bool {
    !body.is_ascii() && std::str::from_utf8(body).is_ok()
}

fn header_charset(content_type: &str) -> Option<Declared> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| Declared::from_label(value))
            .filter(|declared| *declared != Declared::Unknown(String::new()))
    })
}

/// The `encoding` of a leading XML declaration, read in `charset` (ASCII, or the UTF-16/32
/// layout the first bytes showed).
fn declared_encoding(body: &[u8], charset: Charset) -> Option<String> {
    let head = &body[..body.len().min(1024)];
    let head = match Charset::for_bom(head) {
        Some((_, length)) => &head[length..],
        None => head,
    };
    let text = if charset.is_ascii_compatible() {
        String::from_utf8_lossy(head).into_owned()
    } else {
        charset.decode(head).text
    };
    let declaration = text.trim_start().strip_prefix("<?xml")?;
    let declaration = &declaration[..declaration.find("?>")?];
    let after = &declaration[declaration.find("encoding")? + "encoding".len()..];
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let value = after[1..].split(quote).next()?;
    Some(value.to_owned())
}

/// Finds `<meta charset=…>` or `<meta http-equiv=… content="…; charset=…">` in the head.
fn meta_charset(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(4096)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(at) = find(&lower[from..], b"<meta") {
        let start = from + at;
        let end = find(&lower[start..], b">").map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(pos) = find(tag, b"charset") {
            let rest = trim_start(&tag[pos + b"charset".len()..]);
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
                if label_len > 0 {
                    return Some(String::from_utf8_lossy(&rest[..label_len]).into_owned());
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

    fn charset(label: &str) -> Charset {
        Charset::for_label(label).unwrap()
    }

    #[test]
    fn header_charset_is_used() {
        let page = html(b"<p>\xe0</p>", Some("text/html; charset=ISO-8859-1"), None);
        assert_eq!(page.charset.name(), "windows-1252");
        assert_eq!(page.warning, None);
    }

    #[test]
    fn meta_declaration_is_found_when_the_header_is_bare() {
        let page = b"<HTML><HEAD><META http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1258\"></HEAD>";
        assert_eq!(
            html(page, Some("text/html"), None).charset.name(),
            "windows-1258"
        );
        assert_eq!(
            html(b"<meta charset='utf-8'>", None, None).charset,
            Charset::UTF_8
        );
        // A page cannot be UTF-16 in bytes that show its <meta> as ASCII.
        assert_eq!(
            html(b"<meta charset='utf-16'>", None, None).charset,
            Charset::UTF_8
        );
    }

    #[test]
    fn windows_1258_decodes_to_combining_marks_that_nfc_composes() {
        // "Thạch" in windows-1258: a, then the combining dot below (0xF2).
        let page = html(b"Tha\xf2ch", Some("text/html; charset=windows-1258"), None);
        assert_eq!(crate::normalize::clean_text(&page.text), "Thạch");
    }

    #[test]
    fn bom_wins_over_a_stale_header_and_forced_charset_wins_over_all() {
        let page = html(
            b"\xef\xbb\xbfPh\xc3\xbac",
            Some("text/html; charset=windows-1252"),
            None,
        );
        assert_eq!((page.text.as_str(), page.charset), ("Phúc", Charset::UTF_8));
        let forced = html(b"\xef\xbb\xbfx", None, Some(Charset::WINDOWS_1258));
        assert_eq!(forced.charset, Charset::WINDOWS_1258);
    }

    #[test]
    fn valid_utf8_overrules_a_stale_single_byte_declaration_and_says_so() {
        let page = "<meta charset=\"windows-1252\"><p>Phường Phúc Lợi</p>".as_bytes();
        let read = html(page, Some("text/html; charset=iso-8859-1"), None);
        assert_eq!(read.charset, Charset::UTF_8);
        assert!(read.text.contains("Phường Phúc Lợi"));
        assert!(
            read.warning
                .unwrap()
                .contains("declares windows-1252 but is valid UTF-8")
        );
        // Real windows-1258 bytes are not valid UTF-8: the declaration stands.
        let read = html(
            b"Tha\xf2ch B\xe0n",
            Some("text/html; charset=windows-1258"),
            None,
        );
        assert_eq!((read.charset, read.warning), (Charset::WINDOWS_1258, None));
    }

    #[test]
    fn an_encoding_that_cannot_be_decoded_is_a_warning_naming_it() {
        let read = html("Lợi".as_bytes(), Some("text/html; charset=viscii"), None);
        assert_eq!((read.text.as_str(), read.charset), ("Lợi", Charset::UTF_8));
        let warning = read.warning.unwrap();
        assert!(
            warning.contains("\"viscii\"") && warning.contains("cannot decode"),
            "{warning}"
        );
        let feed = xml(
            b"<?xml version='1.0' encoding='x-mac-greek'?><rss/>",
            None,
            None,
        );
        assert!(feed.warning.unwrap().contains("\"x-mac-greek\""));
    }

    #[test]
    fn bytes_that_are_not_in_the_encoding_are_a_warning() {
        let read = xml(b"<t>\xa4\xb3\xa4\xf3</t>", None, None);
        assert_eq!(read.charset, Charset::UTF_8);
        assert!(
            read.warning
                .unwrap()
                .starts_with("4 byte sequences are not UTF-8")
        );
    }

    #[test]
    fn pages_and_feeds_in_ibm_code_pages() {
        // "Привет" in IBM855, which encoding_rs does not have.
        let body = [
            &b"<?xml version=\"1.0\" encoding=\"IBM855\"?><t>"[..],
            &[0xDD, 0xE1, 0xB7, 0xEB, 0xA8, 0xE5],
            b"</t>",
        ]
        .concat();
        let feed = xml(&body, None, None);
        assert_eq!((feed.charset, feed.warning), (charset("ibm855"), None));
        assert!(feed.text.contains("<t>Привет</t>"), "{}", feed.text);
        let page = html(&[0xDD, 0xE1], Some("text/html; charset=cp855"), None);
        assert_eq!(page.text, "Пр");
    }

    #[test]
    fn feeds_follow_xml_appendix_f_without_a_byte_order_mark() {
        let document = "<?xml version=\"1.0\" encoding=\"utf-16\"?><rss>Lợi</rss>";
        let le: Vec<u8> = document.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = document.encode_utf16().flat_map(u16::to_be_bytes).collect();
        for bytes in [le, be] {
            let feed = xml(&bytes, None, None);
            assert_eq!(feed.text, document);
            assert_eq!(feed.warning, None);
        }
        let no_declaration = "<rss>Lợi</rss>";
        let be32: Vec<u8> = no_declaration
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        assert_eq!(xml(&be32, None, None).text, no_declaration);
    }

    #[test]
    fn feeds_take_the_declaration_then_the_http_charset_over_it() {
        let (body, _, _) = encoding_rs::WINDOWS_1258
            .encode("<?xml version=\"1.0\" encoding=\"windows-1258\"?><t>Phường</t>");
        assert_eq!(xml(&body, None, None).charset, Charset::WINDOWS_1258);
        assert_eq!(
            xml(&body, Some("application/rss+xml"), None).charset,
            Charset::WINDOWS_1258
        );
        let read = xml(&body, Some("text/xml; charset=iso-8859-1"), None);
        assert_eq!(read.charset.name(), "windows-1252");
        // A declaration no ASCII-compatible document can be in is read as UTF-8.
        let read = xml(
            b"<?xml version=\"1.0\" encoding=\"utf-16\"?><t>a</t>",
            None,
            None,
        );
        assert_eq!((read.charset, read.warning), (Charset::UTF_8, None));
    }
}
