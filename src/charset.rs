//! Character encodings: every label a page or feed may declare, and the bytes decoded in it.
//!
//! A shared leaf (configuration forces one, fetching reads pages in one, ingest reads feeds in
//! one). encoding_rs decodes the WHATWG set; oem_cp the IBM/DOS code pages outside it (IBM437,
//! IBM850, IBM855, …). UTF-32, which neither crate has, is decoded here (a code unit is a code
//! point). Labels are matched as WHATWG does, then with `_` for `-` and the IBM/`cp`/`csibm`
//! spellings of code page numbers, then a few names Python and IANA use for the same
//! encodings (`ms-ansi`, `ucs-2`, `u16`). A label none of these knows (`viscii`, `tcvn`,
//! `macgreek`, EBCDIC) is reported by its caller, never silently read as something else.

use std::fmt;

use encoding_rs::Encoding;
use oem_cp::code_table::DECODING_TABLE_CP_MAP;

/// An encoding wardfeed can decode.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Charset(Kind);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Whatwg(&'static Encoding),
    /// An IBM/DOS code page number that oem_cp has a table for.
    Oem(u16),
    Utf32Le,
    Utf32Be,
}

/// Text decoded from bytes, and how many byte sequences were not valid in the encoding (each
/// became U+FFFD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub malformed: usize,
}

impl Charset {
    pub const UTF_8: Charset = Charset(Kind::Whatwg(encoding_rs::UTF_8));
    pub const UTF_16LE: Charset = Charset(Kind::Whatwg(encoding_rs::UTF_16LE));
    pub const UTF_16BE: Charset = Charset(Kind::Whatwg(encoding_rs::UTF_16BE));
    pub const UTF_32LE: Charset = Charset(Kind::Utf32Le);
    pub const UTF_32BE: Charset = Charset(Kind::Utf32Be);
    pub const WINDOWS_1252: Charset = Charset(Kind::Whatwg(encoding_rs::WINDOWS_1252));
    pub const WINDOWS_1258: Charset = Charset(Kind::Whatwg(encoding_rs::WINDOWS_1258));

    /// The encoding a declared label names, if wardfeed can decode it.
    pub fn for_label(label: &str) -> Option<Charset> {
        let label = label.trim().trim_matches(['"', '\'']).trim();
        if label.is_empty() {
            return None;
        }
        let lower = label.to_ascii_lowercase();
        let whatwg =
            |name: &str| Encoding::for_label(name.as_bytes()).map(|e| Charset(Kind::Whatwg(e)));
        whatwg(&lower)
            .or_else(|| whatwg(&lower.replace('_', "-")))
            .or_else(|| alias(&lower.replace('_', "-")))
            .or_else(|| code_page(&lower))
    }

    /// The encoding a byte-order mark at the start of `bytes` names, and the mark's length.
    pub fn for_bom(bytes: &[u8]) -> Option<(Charset, usize)> {
        // UTF-32LE's mark starts like UTF-16LE's, so it is looked for first.
        match bytes {
            [0xFF, 0xFE, 0, 0, ..] => Some((Charset::UTF_32LE, 4)),
            [0, 0, 0xFE, 0xFF, ..] => Some((Charset::UTF_32BE, 4)),
            _ => Encoding::for_bom(bytes).map(|(e, len)| (Charset(Kind::Whatwg(e)), len)),
        }
    }

    /// The encoding family XML's Appendix F reads from the first bytes of a document without a
    /// byte-order mark: the UTF-16 and UTF-32 layouts of `<`, else `None` (an ASCII-compatible
    /// document, whose declaration says which one).
    pub fn sniff_xml(bytes: &[u8]) -> Option<Charset> {
        match bytes {
            [0, 0, 0, b'<', ..] => Some(Charset::UTF_32BE),
            [b'<', 0, 0, 0, ..] => Some(Charset::UTF_32LE),
            [0, b'<', 0, next, ..] if next.is_ascii() && *next != 0 => Some(Charset::UTF_16BE),
            [b'<', 0, next, 0, ..] if next.is_ascii() && *next != 0 => Some(Charset::UTF_16LE),
            _ => None,
        }
    }

    /// The encoding's canonical name (`UTF-8`, `windows-1258`, `IBM855`).
    pub fn name(self) -> &'static str {
        match self.0 {
            Kind::Whatwg(encoding) => encoding.name(),
            Kind::Oem(page) => oem_name(page),
            Kind::Utf32Le => "UTF-32LE",
            Kind::Utf32Be => "UTF-32BE",
        }
    }

    /// Whether ASCII bytes mean ASCII characters in it (so an XML declaration or a `<meta>`
    /// written in ASCII can be read before the encoding is known).
    pub fn is_ascii_compatible(self) -> bool {
        match self.0 {
            Kind::Whatwg(encoding) => encoding.is_ascii_compatible(),
            Kind::Oem(_) => true,
            Kind::Utf32Le | Kind::Utf32Be => false,
        }
    }

    /// One byte a character (windows-125x, ISO 8859, the IBM code pages).
    pub fn is_single_byte(self) -> bool {
        match self.0 {
            Kind::Whatwg(encoding) => encoding.is_single_byte() && encoding != encoding_rs::UTF_8,
            Kind::Oem(_) => true,
            Kind::Utf32Le | Kind::Utf32Be => false,
        }
    }

    /// Decodes `bytes`, which hold no byte-order mark (strip one first with `for_bom`).
    pub fn decode(self, bytes: &[u8]) -> Decoded {
        match self.0 {
            Kind::Whatwg(encoding) => {
                let (text, malformed) = encoding.decode_without_bom_handling(bytes);
                let malformed = if malformed {
                    text.chars()
                        .filter(|c| *c == char::REPLACEMENT_CHARACTER)
                        .count()
                        - bytes_replacement_chars(bytes, encoding)
                } else {
                    0
                };
                Decoded {
                    text: text.into_owned(),
                    malformed,
                }
            }
            Kind::Oem(page) => {
                let table = DECODING_TABLE_CP_MAP
                    .get(&page)
                    .expect("only code pages with a table are made");
                let text = table.decode_string_lossy(bytes);
                let malformed = bytes
                    .iter()
                    .filter(|b| table.decode_char_checked(**b).is_none())
                    .count();
                Decoded { text, malformed }
            }
            Kind::Utf32Le => utf32(bytes, u32::from_le_bytes),
            Kind::Utf32Be => utf32(bytes, u32::from_be_bytes),
        }
    }
}

/// U+FFFD characters the bytes spelled out themselves (in UTF-8), which are not malformed.
fn bytes_replacement_chars(bytes: &[u8], encoding: &'static Encoding) -> usize {
    if encoding != encoding_rs::UTF_8 {
        return 0;
    }
    bytes
        .windows(3)
        .filter(|w| *w == [0xEF, 0xBF, 0xBD])
        .count()
}

fn utf32(bytes: &[u8], read: fn([u8; 4]) -> u32) -> Decoded {
    let mut text = String::with_capacity(bytes.len() / 4);
    let mut malformed = 0;
    let mut units = bytes.chunks_exact(4);
    for unit in &mut units {
        match char::from_u32(read([unit[0], unit[1], unit[2], unit[3]])) {
            Some(c) => text.push(c),
            None => {
                malformed += 1;
                text.push(char::REPLACEMENT_CHARACTER);
            }
        }
    }
    if !units.remainder().is_empty() {
        malformed += 1;
        text.push(char::REPLACEMENT_CHARACTER);
    }
    Decoded { text, malformed }
}

/// Names other registries (Python's codecs, IANA) give encodings that WHATWG spells otherwise.
fn alias(label: &str) -> Option<Charset> {
    let whatwg = match label {
        "ms-ansi" => encoding_rs::WINDOWS_1252,
        "ms-ee" => encoding_rs::WINDOWS_1250,
        "ms-cyrl" => encoding_rs::WINDOWS_1251,
        "ms-greek" => encoding_rs::WINDOWS_1253,
        "ms-turk" => encoding_rs::WINDOWS_1254,
        "ms-hebr" => encoding_rs::WINDOWS_1255,
        "ms-arab" => encoding_rs::WINDOWS_1256,
        "winbaltrim" => encoding_rs::WINDOWS_1257,
        "macroman" | "mac-roman" => encoding_rs::MACINTOSH,
        "maccyrillic" | "mac-cyrillic" => encoding_rs::X_MAC_CYRILLIC,
        "utf8" | "u8" => encoding_rs::UTF_8,
        // UCS-2 is UTF-16 without surrogates; a document so declared is read like UTF-16,
        // whose byte order the caller found from the mark or the first bytes.
        "utf16" | "u16" | "utf-16" | "ucs-2" | "iso-10646-ucs-2" | "csunicode" => {
            encoding_rs::UTF_16LE
        }
        "utf-32" | "utf32" | "u32" | "ucs-4" | "iso-10646-ucs-4" | "csucs4" | "utf-32le" => {
            return Some(Charset::UTF_32LE);
        }
        "utf-32be" => return Some(Charset::UTF_32BE),
        _ => return None,
    };
    Some(Charset(Kind::Whatwg(whatwg)))
}

/// `ibm855`, `cp855`, `csibm855`, `855`, `ibm-855`, `cspc850multilingual`-style names of an
/// IBM/DOS code page that oem_cp decodes.
fn code_page(label: &str) -> Option<Charset> {
    let named = match label {
        "cspc8codepage437" => Some(437),
        "cspc775baltic" => Some(775),
        "cspc850multilingual" => Some(850),
        "cspcp852" => Some(852),
        "cspc862latinhebrew" => Some(862),
        _ => None,
    };
    let number = named.or_else(|| {
        let digits = ["csibm", "ibm", "cp", "oem", "dos"]
            .iter()
            .find_map(|prefix| label.strip_prefix(prefix))
            .unwrap_or(label)
            .trim_start_matches(['-', '_']);
        digits.parse::<u16>().ok()
    })?;
    DECODING_TABLE_CP_MAP
        .contains_key(&number)
        .then_some(Charset(Kind::Oem(number)))
}

fn oem_name(page: u16) -> &'static str {
    match page {
        437 => "IBM437",
        720 => "IBM720",
        737 => "IBM737",
        775 => "IBM775",
        850 => "IBM850",
        852 => "IBM852",
        855 => "IBM855",
        857 => "IBM857",
        858 => "IBM858",
        860 => "IBM860",
        861 => "IBM861",
        862 => "IBM862",
        863 => "IBM863",
        864 => "IBM864",
        865 => "IBM865",
        866 => "IBM866",
        869 => "IBM869",
        874 => "IBM874",
        _ => "IBM",
    }
}

impl fmt::Debug for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatwg_labels_and_their_other_spellings() {
        for (label, name) in [
            ("utf-8", "UTF-8"),
            ("windows-1258", "windows-1258"),
            ("Windows_1258", "windows-1258"),
            ("iso-8859-1", "windows-1252"),
            ("ms-ansi", "windows-1252"),
            ("ms-cyrl", "windows-1251"),
            ("winbaltrim", "windows-1257"),
            ("macroman", "macintosh"),
            ("mac", "macintosh"),
            ("maccyrillic", "x-mac-cyrillic"),
            ("\"koi8-u\"", "KOI8-U"),
        ] {
            assert_eq!(
                Charset::for_label(label).map(Charset::name),
                Some(name),
                "{label}"
            );
        }
    }

    #[test]
    fn ibm_code_pages_outside_whatwg_are_decoded() {
        for label in ["IBM855", "ibm-855", "cp855", "csIBM855", "855"] {
            let charset = Charset::for_label(label).unwrap();
            assert_eq!(charset.name(), "IBM855", "{label}");
            // "Привет" in IBM855.
            let decoded = charset.decode(&[0xDD, 0xE1, 0xB7, 0xEB, 0xA8, 0xE5]);
            assert_eq!(decoded.text, "Привет");
            assert_eq!(decoded.malformed, 0);
        }
        assert_eq!(
            Charset::for_label("cspc850multilingual").unwrap().name(),
            "IBM850"
        );
        // IBM866 is WHATWG's own.
        assert_eq!(Charset::for_label("cp866").unwrap().name(), "IBM866");
    }

    #[test]
    fn what_no_crate_decodes_is_unknown_not_guessed() {
        for label in [
            "viscii",
            "tcvn",
            "tcvn5712-1",
            "macgreek",
            "ebcdic-cp-us",
            "cp037",
            "klingon",
            "",
        ] {
            assert_eq!(Charset::for_label(label), None, "{label}");
        }
    }

    #[test]
    fn utf32_and_byte_order_marks() {
        let text = "<rss>Lợi</rss>";
        let le: Vec<u8> = text
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        let be: Vec<u8> = text
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        assert_eq!(Charset::sniff_xml(&le), Some(Charset::UTF_32LE));
        assert_eq!(Charset::sniff_xml(&be), Some(Charset::UTF_32BE));
        assert_eq!(Charset::UTF_32LE.decode(&le).text, text);
        assert_eq!(Charset::UTF_32BE.decode(&be).text, text);
        let bom = [&[0xFF, 0xFE, 0, 0][..], &le].concat();
        assert_eq!(Charset::for_bom(&bom), Some((Charset::UTF_32LE, 4)));
        let le16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be16: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(Charset::sniff_xml(&le16), Some(Charset::UTF_16LE));
        assert_eq!(Charset::sniff_xml(&be16), Some(Charset::UTF_16BE));
        assert_eq!(Charset::sniff_xml(b"<?xml"), None);
        assert_eq!(
            Charset::for_bom(b"\xef\xbb\xbfx"),
            Some((Charset::UTF_8, 3))
        );
    }

    #[test]
    fn malformed_bytes_are_counted() {
        assert_eq!(Charset::UTF_8.decode(b"L\xffi").malformed, 1);
        assert_eq!(Charset::UTF_8.decode("L\u{fffd}i".as_bytes()).malformed, 0);
        assert_eq!(Charset::UTF_32LE.decode(&[0, 0, 0x11, 0]).malformed, 1);
    }
}
