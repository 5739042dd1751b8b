//! Feed reading: every format, the link rule, dates in the source's zone, recovery, encodings.

use chrono::DateTime;

use super::*;

const VN: Tz = chrono_tz::Asia::Ho_Chi_Minh;

fn url() -> Url {
    Url::parse("http://h/lb/rss/a.rss").unwrap()
}

/// The fetch time: 2023-02-01 08:00 in Hà Nội.
fn dates() -> DateContext<'static> {
    DateContext::new(
        VN,
        DateTime::parse_from_rfc3339("2023-02-01T08:00:00+07:00").unwrap(),
    )
}

fn read_bytes(bytes: &[u8]) -> Result<Feed, IngestError> {
    let url = url();
    parse_feed(bytes, &FeedRequest::new(&url, dates()))
}

fn read(xml: &str) -> Feed {
    read_bytes(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn links(feed: &Feed) -> Vec<Option<&str>> {
    feed.entries
        .iter()
        .map(|e| e.link.as_ref().map(Url::as_str))
        .collect()
}

fn rss_items(items: &str) -> String {
    format!(
        r#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:wfw="http://wellformedweb.org/CommentAPI/"><channel><title>t</title>{items}</channel></rss>"#
    )
}

#[test]
fn reads_rss2_quirks() {
    let feed = read(
        r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Phường</title><link>http://h/</link><description>d</description>
        <item><title>Dân vận &amp; Mặt trận</title><link>http://h/lb/x-1.html?utm_source=rss</link>
          <guid isPermaLink="false">917</guid><pubDate>Tue, 20 Dec 2022 16:30:00 +0700</pubDate>
          <description>&lt;p&gt;&lt;img src="/u/1.jpg" /&gt;&lt;/p&gt;&lt;p&gt;vui tươi,&amp;nbsp;an toàn&lt;/p&gt;</description>
          <enclosure url="http://h/lb/u/1.jpg" length="0" type="image/jpeg"/></item>
        </channel></rss>"#,
    );
    assert_eq!(
        (feed.format.as_str(), feed.title.as_deref()),
        ("RSS 2.0", Some("Phường"))
    );
    let entry = &feed.entries[0];
    assert_eq!(entry.title.as_deref(), Some("Dân vận & Mặt trận"));
    assert_eq!(entry.guid.as_deref(), Some("917"));
    assert_eq!(
        entry.link.as_ref().unwrap().as_str(),
        "http://h/lb/x-1.html?utm_source=rss"
    );
    assert_eq!(
        entry.published.unwrap().at.to_rfc3339(),
        "2022-12-20T16:30:00+07:00"
    );
    assert_eq!(entry.summary.as_deref(), Some("vui tươi, an toàn"));
    assert_eq!(
        entry.image.as_ref().unwrap().as_str(),
        "http://h/lb/u/1.jpg"
    );
    assert!(feed.warnings.is_empty(), "{:?}", feed.warnings);
}

#[test]
fn entries_without_ids_get_none_not_a_random_id() {
    let xml = rss_items("<item><title>a</title><link>http://h/a</link></item>");
    let first = read(&xml);
    assert_eq!(first.entries[0].guid, None);
    assert_eq!(first, read(&xml));
}

#[test]
fn every_format_and_namespace_readers_accept() {
    let cases = [
        (
            "RSS 2.0",
            r#"<rss version="2.0"><channel><item><title>A</title><link>http://h/a</link></item></channel></rss>"#,
        ),
        (
            "RSS 2.0",
            r#"<r:rss version="2.0" xmlns:r="http://backend.userland.com/rss2"><r:channel><r:item><r:title>A</r:title><r:link>http://h/a</r:link></r:item></r:channel></r:rss>"#,
        ),
        (
            "RSS 2.0",
            r#"<rss version="2.0" xmlns="http://backend.userland.com/rss2"><channel><item><title>A</title><link>http://h/a</link></item></channel></rss>"#,
        ),
        (
            "RSS 0.91",
            r#"<rss version="0.91"><channel><item><title>A</title><link>http://h/a</link></item></channel></rss>"#,
        ),
        (
            "RSS 0.90",
            r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://my.netscape.com/rdf/simple/0.9/"><channel><title>t</title></channel><item><title>A</title><link>http://h/a</link></item></rdf:RDF>"#,
        ),
        (
            "RSS 1.0",
            r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel rdf:about="http://h/"><title>t</title></channel><item rdf:about="http://h/a"><title>A</title></item></rdf:RDF>"#,
        ),
        (
            "Atom 1.0",
            r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>A</title><link href="http://h/a"/><id>urn:a</id></entry></feed>"#,
        ),
        (
            "Atom 0.3",
            r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><title mode="escaped" type="text/html">A</title><link rel="alternate" type="text/html" href="http://h/a"/><issued>2023-01-30T11:00:00+07:00</issued></entry></feed>"#,
        ),
        (
            "JSON Feed 1.1",
            r#"{"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [{"id": "1", "url": "http://h/a", "title": "A"}]}"#,
        ),
        (
            "JSON Feed 1",
            r#"{"version": "https://jsonfeed.org/version/1", "title": "t", "items": [{"id": 1, "url": "/a", "title": "A"}]}"#,
        ),
    ];
    for (format, document) in cases {
        let feed = read(document);
        assert_eq!(feed.format, format, "{document}");
        assert_eq!(feed.entries.len(), 1, "{document}");
        let entry = &feed.entries[0];
        assert_eq!(entry.title.as_deref(), Some("A"), "{document}");
        assert_eq!(
            entry.link.as_ref().map(Url::as_str),
            Some("http://h/a"),
            "{document}"
        );
        assert!(feed.warnings.is_empty(), "{document}: {:?}", feed.warnings);
    }
}

#[test]
fn a_document_that_is_no_feed_is_an_error_of_its_own_never_empty() {
    for document in [
        "<html><body><p>Trang chủ</p></body></html>",
        r#"<opml version="2.0"><body/></opml>"#,
        r#"{"items": []}"#,
    ] {
        let error = read_bytes(document.as_bytes()).unwrap_err();
        assert!(
            matches!(error, IngestError::Unsupported { .. }),
            "{document}: {error}"
        );
        assert_eq!(error.kind(), ErrorKind::UnsupportedFeed);
        assert!(
            error.to_string().contains("unsupported feed format"),
            "{error}"
        );
    }
    for garbage in [
        &b"\x00\xffnot xml"[..],
        b"",
        b"{\"version\": ",
        b"just words",
        b"<L\xc8\xbd\xff\x00K\x8a\x01 garbage",
    ] {
        let error = read_bytes(garbage).unwrap_err();
        assert!(matches!(error, IngestError::NotAFeed { .. }), "{error}");
        assert_eq!(error.kind(), ErrorKind::FeedParse);
        assert!(
            error
                .to_string()
                .starts_with("parse feed http://h/lb/rss/a.rss: not a feed")
        );
    }
    // A feed with no items is empty, not an error.
    assert!(read(&rss_items("")).entries.is_empty());
}

#[test]
fn ill_formed_feeds_give_the_entries_before_the_break_with_a_warning() {
    let truncated = rss_items(
        "<item><title>1</title><link>http://h/1</link></item><item><title>2</title><link>http://h/2</link></item><item><title>3</title><link>http://h/3",
    );
    let truncated = &truncated[..truncated.find("http://h/3").unwrap() + 10];
    let feed = read(truncated);
    assert_eq!(links(&feed), [Some("http://h/1"), Some("http://h/2")]);
    let warning = &feed.warnings[0];
    assert!(
        warning.starts_with("recovered 2 entries from an ill-formed feed (1 cut off and left out): the document ends inside"),
        "{warning}"
    );

    let bare_ampersand = rss_items(
        "<item><title>Hỏi & đáp</title><link>http://h/x?a=1&b=2</link></item><item><title>2</title><link>http://h/2</link></item>",
    );
    let feed = read(&bare_ampersand);
    assert_eq!(
        links(&feed),
        [Some("http://h/x?a=1&b=2"), Some("http://h/2")]
    );
    assert_eq!(feed.entries[0].title.as_deref(), Some("Hỏi & đáp"));
    assert!(
        feed.warnings[0]
            .starts_with("recovered 2 entries from an ill-formed feed: line 1: a bare &"),
        "{:?}",
        feed.warnings
    );

    let broken_reference =
        rss_items("<item><title>A &#xD800; B &#99999999;</title><link>http://h/1</link></item>");
    let feed = read(&broken_reference);
    assert_eq!(
        feed.entries[0].title.as_deref(),
        Some("A &#xD800; B &#99999999;")
    );
    assert!(
        feed.warnings[0].contains("broken character reference"),
        "{:?}",
        feed.warnings
    );

    let syntax_error = rss_items("<item><title>1</title><link>http://h/1</link></item><item <<<>");
    let feed = read(&syntax_error);
    assert_eq!(links(&feed), [Some("http://h/1")]);
    assert!(
        feed.warnings[0]
            .starts_with("recovered 1 entries from an ill-formed feed (1 cut off and left out)"),
        "{:?}",
        feed.warnings
    );
}

#[test]
fn the_link_is_the_alternate_then_a_permalink_guid_never_another_relation() {
    let feed = read(&rss_items(
        r#"<item><comments>http://h/1/comments</comments><wfw:commentRss>http://h/1/rss</wfw:commentRss><link>http://h/1</link></item>
        <item><guid>http://h/2</guid></item>
        <item><guid isPermaLink="true">http://h/3</guid></item>
        <item><guid isPermaLink="false">http://h/4</guid></item>
        <item><atom:link rel="self" href="http://h/5/self"/><guid isPermaLink="false">5</guid></item>
        <item><guid>tag:h,2023:6</guid></item>"#,
    ));
    assert_eq!(
        links(&feed),
        [
            Some("http://h/1"),
            Some("http://h/2"),
            Some("http://h/3"),
            None,
            None,
            None
        ]
    );
    let atom = read(
        r#"<feed xmlns="http://www.w3.org/2005/Atom">
        <entry><id>1</id><link rel="self" href="/1/self"/><link rel="enclosure" href="/1.mp3"/><link rel="license" href="/cc"/><link rel="via" href="/v"/><link rel="related" href="/r"/><link rel="replies" href="/c"/></entry>
        <entry><id>2</id><link rel="alternate" type="application/pdf" href="/2.pdf"/><link type="text/html" href="/2.html"/></entry>
        <entry><id>3</id><link rel="http://www.iana.org/assignments/relation/alternate" href="/3"/></entry>
        <entry><id>4</id><link rel="edit" href="/4/edit"/><link href="/4"/></entry>
        </feed>"#,
    );
    assert_eq!(
        links(&atom),
        [
            None,
            Some("http://h/2.html"),
            Some("http://h/3"),
            Some("http://h/4")
        ]
    );
}

#[test]
fn the_link_wardfeed_took_before_is_remembered_where_it_differs() {
    let feed = read(&rss_items(
        r#"<item><comments>http://h/1/comments</comments><link>http://h/1</link></item>
        <item><guid>http://h/2</guid></item>
        <item><link>http://h/3</link><comments>http://h/3/comments</comments></item>"#,
    ));
    let earlier: Vec<Option<Option<&str>>> = feed
        .entries
        .iter()
        .map(|e| e.earlier_link.as_ref().map(|l| l.as_ref().map(Url::as_str)))
        .collect();
    assert_eq!(
        earlier,
        [Some(Some("http://h/1/comments")), Some(None), None]
    );
    let atom = read(
        r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><link rel="self" href="/1/self"/></entry></feed>"#,
    );
    assert_eq!(
        atom.entries[0].earlier_link,
        Some(Some(Url::parse("http://h/1/self").unwrap()))
    );
}

#[test]
fn relative_links_resolve_against_xml_base_then_the_feed() {
    let atom = read(
        r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://other/base/"><entry xml:base="sub/"><id>1</id><link href="a.html"/></entry><entry><id>2</id><link href="/b"/></entry></feed>"#,
    );
    assert_eq!(
        links(&atom),
        [Some("http://other/base/sub/a.html"), Some("http://other/b")]
    );
    let rss = read(&rss_items("<item><link>../x.html</link></item>"));
    assert_eq!(links(&rss), [Some("http://h/lb/x.html")]);
}

#[test]
fn an_unknown_type_is_text_or_html_never_fatal() {
    let feed = read(
        r#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
        <entry><id>1</id><title type="xml">A</title><summary type="text/plain">S &lt;b&gt;</summary><media:title type="text/html">M</media:title></entry>
        <entry><id>2</id><title type="image/svg+xml">B</title><content type="application/x-weird">c</content></entry>
        <entry><id>3</id><title type="html">&lt;b&gt;C&lt;/b&gt; &amp;amp; D</title><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></content></entry>
        </feed>"#,
    );
    let titles: Vec<Option<&str>> = feed.entries.iter().map(|e| e.title.as_deref()).collect();
    assert_eq!(titles, [Some("A"), Some("B"), Some("C & D")]);
    assert_eq!(feed.entries[0].summary.as_deref(), Some("S <b>"));
    assert_eq!(feed.entries[2].content_html.as_deref(), Some("<p>x</p>"));
}

#[test]
fn feed_dates_in_every_form_and_the_source_zone() {
    let feed = read(&rss_items(
        r#"<item><link>http://h/1</link><pubDate>2023-01-30 11:00:00</pubDate></item>
        <item><link>http://h/2</link><dc:date>2023-01-30T11:00:00</dc:date></item>
        <item><link>http://h/3</link><pubDate>30/01/2023 11:00</pubDate></item>
        <item><link>http://h/4</link><dcterms:created>2023-01-30T04:00:00Z</dcterms:created></item>
        <item><link>http://h/5</link><dcterms:modified>Thứ Hai, 30/01/2023 - 11:00 SA</dcterms:modified></item>
        <item><link>http://h/6</link><pubDate>Mon, 30 Jan 2023 04:00:00 GMT</pubDate></item>
        <item><link>http://h/7</link><pubDate>2 giờ trước</pubDate></item>"#,
    ));
    let dates: Vec<String> = feed
        .entries
        .iter()
        .map(|e| e.published.unwrap().at.to_rfc3339())
        .collect();
    assert_eq!(dates[..6], ["2023-01-30T11:00:00+07:00"; 6]);
    assert_eq!(dates[6], "2023-02-01T06:00:00+07:00");
}

#[test]
fn a_date_not_understood_or_in_the_future_is_a_warning_never_a_wrong_time() {
    let feed = read(&rss_items(
        r#"<item><link>http://h/1</link><pubDate>hôm nào đó</pubDate></item>
        <item><link>http://h/2</link><pubDate>30/01/2099 11:00</pubDate></item>
        <item><link>http://h/3</link><pubDate>garbage</pubDate><dc:date>2023-01-30T11:00:00+07:00</dc:date></item>"#,
    ));
    for (entry, quoted) in feed.entries[..2].iter().zip(["hôm nào đó", "2099"]) {
        assert_eq!(entry.published, None);
        assert_eq!(entry.warnings[0].field, "date");
        assert!(
            entry.warnings[0].message.contains(quoted),
            "{:?}",
            entry.warnings
        );
    }
    // Another date of the entry stands in, and the warning says which was not understood.
    let third = &feed.entries[2];
    assert_eq!(
        third.published.unwrap().at.to_rfc3339(),
        "2023-01-30T11:00:00+07:00"
    );
    assert!(
        third.warnings[0].message.contains("\"garbage\""),
        "{:?}",
        third.warnings
    );
}

#[test]
fn encodings_beyond_whatwg_and_utf16_without_a_bom() {
    // IBM855 (Cyrillic DOS): "Привет".
    let ibm855 = [
        &br#"<?xml version="1.0" encoding="IBM855"?><rss><channel><item><link>http://h/1</link><title>"#[..],
        &[0xDD, 0xE1, 0xB7, 0xEB, 0xA8, 0xE5],
        b"</title></item></channel></rss>",
    ]
    .concat();
    let feed = read_bytes(&ibm855).unwrap();
    assert_eq!(feed.entries[0].title.as_deref(), Some("Привет"));
    assert!(feed.warnings.is_empty(), "{:?}", feed.warnings);

    let document = r#"<?xml version="1.0" encoding="UTF-16"?><rss><channel><item><link>http://h/1</link><title>Phường Lợi</title></item></channel></rss>"#;
    for bytes in [
        document
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>(),
        document.encode_utf16().flat_map(u16::to_be_bytes).collect(),
    ] {
        let feed = read_bytes(&bytes).unwrap();
        assert_eq!(feed.entries[0].title.as_deref(), Some("Phường Lợi"));
    }

    // An encoding no crate decodes is said, by name.
    let feed = read(
        r#"<?xml version="1.0" encoding="VISCII"?><rss><channel><item><link>http://h/1</link></item></channel></rss>"#,
    );
    assert!(
        feed.warnings[0].contains("\"VISCII\""),
        "{:?}",
        feed.warnings
    );
}

fn windows_1258_feed(declaration: &str) -> Vec<u8> {
    // Windows-1258 writes tones as combining marks: NFC is our job, after decoding.
    let body = "<rss version=\"2.0\"><channel><title>t</title><item><title>Phươ\u{300}ng Phúc Lơ\u{323}i</title><link>http://h/a</link></item></channel></rss>";
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1258.encode(body);
    assert!(!unmappable);
    [declaration.as_bytes(), &bytes[..]].concat()
}

#[test]
fn honours_a_declared_encoding_however_long_the_declaration() {
    // quick-xml once panicked on a declaration past its 64-byte window.
    for declaration in [
        r#"<?xml version="1.0" encoding="windows-1258"?>"#,
        r#"<?xml version="1.0" encoding="windows-1258" standalone="yes"      ?>"#,
    ] {
        let feed = read_bytes(&windows_1258_feed(declaration)).unwrap();
        assert_eq!(
            feed.entries[0].title.as_deref(),
            Some("Phường Phúc Lợi"),
            "{declaration}"
        );
    }
}

#[test]
fn a_forced_charset_and_the_http_charset_outrank_the_document() {
    let url = Url::parse("http://h/f").unwrap();
    for declaration in ["", r#"<?xml version="1.0" encoding="utf-8"?>"#, "\u{feff}"] {
        let feed = windows_1258_feed(declaration);
        let forced = FeedRequest {
            charset: Some(Charset::WINDOWS_1258),
            ..FeedRequest::new(&url, dates())
        };
        assert_eq!(
            parse_feed(&feed, &forced).unwrap().entries[0]
                .title
                .as_deref(),
            Some("Phường Phúc Lợi"),
            "{declaration:?}"
        );
        // Without the override the same bytes are read as UTF-8, wrongly, and it is said.
        let unforced = parse_feed(&feed, &FeedRequest::new(&url, dates())).unwrap();
        assert_ne!(
            unforced.entries[0].title.as_deref(),
            Some("Phường Phúc Lợi")
        );
        assert!(
            unforced.warnings[0].contains("not UTF-8"),
            "{:?}",
            unforced.warnings
        );
    }
    let header = FeedRequest {
        content_type: Some("application/rss+xml; charset=windows-1258"),
        ..FeedRequest::new(&url, dates())
    };
    let feed = parse_feed(&windows_1258_feed(""), &header).unwrap();
    assert_eq!(feed.entries[0].title.as_deref(), Some("Phường Phúc Lợi"));
}

#[test]
fn hostile_declarations_are_errors_or_entries_never_panics() {
    // Found by the ingest_feed fuzz target (fuzz/seeds/ingest_feed/fixed-*): quick-xml
    // panicked on each, inside feed-rs.
    let stray = r#"<rss version="2.0"><channel><title>t</title><?xml version="1.0" encoding="windows-1258" standalone="yes"?><item><title>a</title><link>http://h/a</link></item></channel></rss>"#;
    for fuzzed in [
        &b"<?xml versio-ng=\"windows-12\x00\x00\x11\x00>70D70D\" encoding=\"windows-1258\"?>"[..],
        b"<?xml version = \"1.0\" encoding \xe1= \"windows-1258\" standalone = \"yes\"?>\n<rss version=\"2.0\"><channel><title>t</title><item><ti\x00\x00\x00lone = \"y>",
        b"<?xm\x80l versio-ng=\"windows-12\x00\x00\x11\x00>70D70D\" encoding=\"windows-1258\"?>",
        stray.as_bytes(),
    ] {
        let _ = read_bytes(fuzzed);
    }
    assert_eq!(read(stray).entries.len(), 1);
    for declaration in [
        r#"<?xml version="1.0" encoding="utf-16"                             ?>"#,
        r#"<?xml version="1.0" encoding="iso-2022-kr"                        ?>"#,
        "\u{feff}<?xml version=\"1.0\" encoding=\"windows-1258\"                 ?>",
    ] {
        let feed = format!(
            "{declaration}<rss version=\"2.0\"><channel><title>t</title><item><title>Lợi</title><link>http://h/a</link></item></channel></rss>"
        );
        // Each is read as the UTF-8 it is.
        assert_eq!(
            read(&feed).entries[0].title.as_deref(),
            Some("Lợi"),
            "{declaration}"
        );
    }
}

#[test]
fn a_stray_malformed_byte_costs_one_character_not_the_feed() {
    let feed = read_bytes(b"<rss version=\"2.0\"><channel><title>t</title><item><title>L\xffi</title><link>http://h/a</link></item></channel></rss>").unwrap();
    assert_eq!(feed.entries[0].title.as_deref(), Some("L\u{fffd}i"));
    assert!(feed.warnings[0].starts_with("1 byte sequences are not UTF-8"));
}

#[test]
fn json_feed_items_read_leniently() {
    let feed = read(
        r#"{"version": "https://jsonfeed.org/version/1.1", "title": "Phường", "feed_url": "http://h/feed.json",
            "items": [
              {"id": "1", "url": "/a", "title": "A", "content_html": "<p>x</p>", "summary": "s", "date_published": "2023-01-30T11:00:00+07:00", "image": "/i.jpg"},
              {"id": 2, "external_url": "http://h/b", "content_text": "plain", "date_modified": "30/01/2023 11:00"},
              {"id": "3", "title": "no link"},
              {"title": "neither"}
            ]}"#,
    );
    assert_eq!(feed.title.as_deref(), Some("Phường"));
    assert_eq!(
        links(&feed),
        [Some("http://h/a"), Some("http://h/b"), None, None]
    );
    let guids: Vec<Option<&str>> = feed.entries.iter().map(|e| e.guid.as_deref()).collect();
    assert_eq!(guids, [Some("1"), Some("2"), Some("3"), None]);
    assert_eq!(
        feed.entries[0].image.as_ref().unwrap().as_str(),
        "http://h/i.jpg"
    );
    assert_eq!(
        feed.entries[1].published.unwrap().at.to_rfc3339(),
        "2023-01-30T11:00:00+07:00"
    );
    assert_eq!(feed.entries[1].content_html.as_deref(), Some("plain"));
}

#[test]
fn an_rss_title_escaped_twice_reads_as_text() {
    // Portals escape titles twice (`&amp;nbsp;`, `&amp;quot;`); markup in a title is dropped.
    let feed = read(&rss_items(
        r#"<item><link>http://h/1</link><title>Lễ&amp;nbsp;hội &amp;quot;Xuân&amp;quot;</title></item>
        <item><link>http://h/2</link><title>&lt;b&gt;Tin&lt;/b&gt; mới</title></item>"#,
    ));
    let titles: Vec<Option<&str>> = feed.entries.iter().map(|e| e.title.as_deref()).collect();
    assert_eq!(titles, [Some("Lễ hội \"Xuân\""), Some("Tin mới")]);
}
