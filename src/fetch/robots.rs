//! robots.txt: parsing a site's rules for our product token (RFC 9309, plus `Crawl-delay`) and
//! deciding whether a path may be fetched.

use std::time::Duration;

/// RFC 9309 §2.5 lets crawlers stop at 500 KiB (it requires them to read at least that much).
const MAX_ROBOTS_BYTES: usize = 500 * 1024;
/// Longer lines are garbage or an attack; dropping one costs us at most one rule.
const MAX_LINE_BYTES: usize = 2000;
/// A site asking for more than a minute between requests would starve every ward on it; we
/// still honour a long delay, only not an absurd one.
const MAX_CRAWL_DELAY_SECS: f64 = 60.0;

/// The rules of one site for one crawler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Robots {
    rules: Vec<Rule>,
    crawl_delay: Option<Duration>,
}

/// One `allow`/`disallow` line, with its pattern normalised (see [`normalise`]) so it compares
/// byte for byte with a normalised path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// `*` in here always means "any sequence": a literal `*` cannot be expressed (RFC 9309).
    pattern: String,
    /// The pattern ended in `$`: the path must end where the pattern does.
    anchored: bool,
}

impl Rule {
    fn parse(allow: bool, value: &[u8]) -> Option<Rule> {
        // An empty value matches nothing (`Disallow:` is the classic "allow everything").
        if value.is_empty() {
            return None;
        }
        let (body, anchored) = match value.strip_suffix(b"$") {
            Some(body) => (body, true),
            None => (value, false),
        };
        let mut pattern = normalise(body);
        // RFC 9309 wants patterns to start with '/', but "Disallow: admin/" is a common slip
        // whose author meant "/admin/"; reading it that way errs on the polite side.
        if !pattern.starts_with(['/', '*']) {
            pattern.insert(0, '/');
        }
        Some(Rule {
            allow,
            pattern,
            anchored,
        })
    }

    /// Priority under "longest match wins": the pattern as normalised, `$` included, so a raw
    /// and a percent-encoded spelling of the same path weigh the same.
    fn len(&self) -> usize {
        self.pattern.len() + usize::from(self.anchored)
    }

    fn matches(&self, path: &str) -> bool {
        let mut segments = self.pattern.split('*');
        // `split` always yields at least one item.
        let first = segments.next().unwrap_or_default();
        let Some(mut rest) = path.strip_prefix(first) else {
            return false;
        };
        let Some(last) = segments.next_back() else {
            // No wildcard: a plain prefix, or the whole path when anchored.
            return !self.anchored || rest.is_empty();
        };
        // Taking the leftmost occurrence of each middle segment leaves the most room for the
        // ones after it, so no backtracking is needed.
        for segment in segments {
            match rest.find(segment) {
                Some(at) => rest = &rest[at + segment.len()..],
                None => return false,
            }
        }
        if self.anchored {
            rest.ends_with(last)
        } else {
            rest.contains(last)
        }
    }
}

impl Robots {
    /// Parses robots.txt bytes for the crawler whose product token is `agent` (e.g. "wardfeed").
    /// Never fails: lines it cannot read are skipped (a broken robots.txt must not break crawling).
    pub fn parse(bytes: &[u8], agent: &str) -> Robots {
        let ours = product_token(agent.as_bytes()).to_ascii_lowercase();
        let mut text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if text.len() > MAX_ROBOTS_BYTES {
            text = &text[..MAX_ROBOTS_BYTES];
            // A line cut in half could turn "Allow: /tin-tuc/noi-bo" into "Allow: /", so the
            // partial last line goes too.
            if let Some(end) = text.iter().rposition(|&b| b == b'\n' || b == b'\r') {
                text = &text[..end];
            }
        }

        let mut specific = Collected::default();
        let mut star = Collected::default();
        let mut group = GroupState::default();

        // RFC 9309 allows CR, LF and CRLF line ends; blank lines between them are ignored.
        for line in text.split(|&b| b == b'\n' || b == b'\r') {
            let Some((key, value)) = split_line(line) else {
                continue;
            };
            match key {
                Key::UserAgent => {
                    if group.has_rules {
                        group = GroupState::default();
                    }
                    group.started = true;
                    let token = product_token(value);
                    if token == b"*" {
                        group.star = true;
                        star.seen = true;
                    } else if !ours.is_empty() && token.eq_ignore_ascii_case(&ours) {
                        group.ours = true;
                        specific.seen = true;
                    }
                }
                Key::Allow | Key::Disallow | Key::CrawlDelay => {
                    // Rules before the first user-agent line belong to no group.
                    if !group.started {
                        continue;
                    }
                    group.has_rules = true;
                    for (member, collected) in
                        [(group.ours, &mut specific), (group.star, &mut star)]
                    {
                        if member {
                            collected.add(key, value);
                        }
                    }
                }
            }
        }

        // Only the most specific groups apply: a group naming us replaces `*` entirely.
        let chosen = if specific.seen { specific } else { star };
        Robots {
            rules: chosen.rules,
            crawl_delay: chosen.crawl_delay,
        }
    }

    /// Everything allowed (robots.txt answered 4xx / absent).
    pub fn allow_all() -> Robots {
        Robots {
            rules: Vec::new(),
            crawl_delay: None,
        }
    }

    /// Everything disallowed (robots.txt answered 5xx or unreachable: RFC 9309 §2.3.1.4 says assume complete disallow).
    pub fn disallow_all() -> Robots {
        Robots {
            rules: vec![Rule {
                allow: false,
                pattern: "/".to_owned(),
                anchored: false,
            }],
            crawl_delay: None,
        }
    }

    /// Whether `path` (the path plus optional "?query", as it appears after the site prefix, always starting with '/') may be fetched.
    pub fn allows(&self, path: &str) -> bool {
        let mut path = normalise(path.as_bytes());
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        // RFC 9309 §2.2.2: robots.txt itself is always allowed, whatever the rules say.
        if path.split('?').next() == Some("/robots.txt") {
            return true;
        }
        let mut best: Option<&Rule> = None;
        for rule in self.rules.iter().filter(|rule| rule.matches(&path)) {
            let better = match best {
                None => true,
                Some(current) => {
                    rule.len() > current.len()
                        || (rule.len() == current.len() && rule.allow && !current.allow)
                }
            };
            if better {
                best = Some(rule);
            }
        }
        best.is_none_or(|rule| rule.allow)
    }

    /// The Crawl-delay for our group, if any (seconds, may be fractional; clamp absurd values to at most 60 s and ignore negative/NaN).
    pub fn crawl_delay(&self) -> Option<Duration> {
        self.crawl_delay
    }
}

/// The lines recognised; everything else (sitemap, host, clean-param, HTML…) is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    UserAgent,
    Allow,
    Disallow,
    CrawlDelay,
}

/// Where the parser is: which audiences the current group addresses, and whether its
/// user-agent lines are over (a user-agent line after a rule starts a new group).
#[derive(Default)]
struct GroupState {
    started: bool,
    has_rules: bool,
    ours: bool,
    star: bool,
}

/// Rules gathered from every group addressing one audience; RFC 9309 §2.2.1 merges them.
#[derive(Default)]
struct Collected {
    seen: bool,
    rules: Vec<Rule>,
    crawl_delay: Option<Duration>,
}

impl Collected {
    fn add(&mut self, key: Key, value: &[u8]) {
        match key {
            Key::Allow | Key::Disallow => {
                self.rules.extend(Rule::parse(key == Key::Allow, value));
            }
            Key::CrawlDelay => {
                // Merged groups may disagree; the longest delay is the one nobody objects to.
                if let Some(delay) = parse_delay(value) {
                    self.crawl_delay = self.crawl_delay.max(Some(delay));
                }
            }
            Key::UserAgent => {}
        }
    }
}

/// Splits a line into a known key and its trimmed value, or `None` for anything to skip.
fn split_line(line: &[u8]) -> Option<(Key, &[u8])> {
    let line = match line.iter().position(|&b| b == b'#') {
        Some(at) => &line[..at],
        None => line,
    };
    if line.len() > MAX_LINE_BYTES {
        return None;
    }
    let colon = line.iter().position(|&b| b == b':')?;
    let key = line[..colon].trim_ascii();
    let value = line[colon + 1..].trim_ascii();
    // Misspellings seen in the wild, accepted as Google's parser does: the site meant them.
    let key = match key.to_ascii_lowercase().as_slice() {
        b"user-agent" | b"useragent" | b"user agent" => Key::UserAgent,
        b"allow" => Key::Allow,
        b"disallow" | b"dissallow" | b"dissalow" | b"disalow" | b"diasllow" | b"disallaw" => {
            Key::Disallow
        }
        b"crawl-delay" | b"crawldelay" | b"crawl delay" => Key::CrawlDelay,
        _ => return None,
    };
    Some((key, value))
}

/// The product token at the start of a user-agent value: "WardFeed/0.1 (+url)" → "WardFeed".
/// RFC 9309 §2.2.1 limits tokens to letters, '-' and '_'; `*` stands alone.
fn product_token(value: &[u8]) -> &[u8] {
    if value.starts_with(b"*") {
        return b"*";
    }
    let end = value
        .iter()
        .position(|&b| !(b.is_ascii_alphabetic() || b == b'-' || b == b'_'))
        .unwrap_or(value.len());
    &value[..end]
}

fn parse_delay(value: &[u8]) -> Option<Duration> {
    let seconds: f64 = std::str::from_utf8(value).ok()?.parse().ok()?;
    if seconds.is_nan() || seconds < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(seconds.min(MAX_CRAWL_DELAY_SECS)))
}

/// Puts a pattern or a path into the one spelling RFC 9309 §2.2.2 compares: percent-encoded
/// unreserved characters decoded, every other escape and every byte outside printable ASCII
/// written as uppercase `%XX`. So "/tin-tức" in robots.txt and "/tin-t%e1%bb%a9c" in a URL
/// meet as "/tin-t%E1%BB%A9c", while "%2F" stays distinct from "/".
fn normalise(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let byte = raw[i];
        let escaped = match (byte, raw.get(i + 1), raw.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => hex_value(hi).zip(hex_value(lo)),
            _ => None,
        };
        if let Some((hi, lo)) = escaped {
            let decoded = (hi << 4) | lo;
            if is_unreserved(decoded) {
                out.push(char::from(decoded));
            } else {
                push_escaped(&mut out, decoded);
            }
            i += 3;
            continue;
        }
        // A '%' that starts no escape is a literal percent sign.
        if byte == b'%' || !byte.is_ascii_graphic() {
            push_escaped(&mut out, byte);
        } else {
            out.push(char::from(byte));
        }
        i += 1;
    }
    out
}

fn push_escaped(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0x0F)]));
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// RFC 3986 §2.3.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENT: &str = "wardfeed";

    fn robots(text: &str) -> Robots {
        Robots::parse(text.as_bytes(), AGENT)
    }

    #[test]
    fn bode_fixture() {
        let bytes = include_bytes!("../../tests/fixtures/portal/s1/bode/robots.txt");
        let r = Robots::parse(bytes, AGENT);
        assert!(!r.allows("/admin/"));
        assert!(!r.allows("/admin/x"));
        assert!(!r.allows("/tim-kiem"));
        assert!(!r.allows("/tim-kiem?q=x"));
        assert!(r.allows("/tin-tuc/le-ra-quan-2024.html"));
        assert!(r.allows("/admin"), "'/admin/' does not cover '/admin'");
        assert!(r.allows("/"));
        assert_eq!(r.crawl_delay(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn group_for_us_replaces_star() {
        let r = robots(
            "User-agent: *\nDisallow: /\nCrawl-delay: 5\n\n\
             User-agent: WardFeed\nDisallow: /private/\n",
        );
        assert!(r.allows("/tin-tuc/1"));
        assert!(!r.allows("/private/a"));
        assert_eq!(r.crawl_delay(), None, "the * group's delay is not ours");
    }

    #[test]
    fn user_agent_value_with_version_matches_but_longer_token_does_not() {
        let r = robots("User-agent: wardfeed/0.1 (+https://example.org)\nDisallow: /a\n");
        assert!(!r.allows("/a"));
        let r = robots("User-agent: wardfeedbot\nDisallow: /a\n");
        assert!(r.allows("/a"));
    }

    #[test]
    fn other_crawlers_groups_do_not_apply() {
        let r = robots("User-agent: Googlebot\nDisallow: /\n");
        assert_eq!(r, Robots::allow_all());
    }

    #[test]
    fn consecutive_user_agents_share_a_group() {
        let r = robots("User-agent: googlebot\nUser-agent: wardfeed\nDisallow: /shared\n");
        assert!(!r.allows("/shared"));
    }

    #[test]
    fn user_agent_after_rules_starts_a_new_group() {
        let r =
            robots("User-agent: wardfeed\nDisallow: /ours\nUser-agent: other\nDisallow: /theirs\n");
        assert!(!r.allows("/ours"));
        assert!(r.allows("/theirs"));
    }

    #[test]
    fn groups_naming_us_are_merged() {
        let r = robots(
            "User-agent: wardfeed\nDisallow: /a\nCrawl-delay: 2\n\
             User-agent: other\nDisallow: /b\n\
             User-agent: wardfeed\nDisallow: /c\nCrawl-delay: 3\n",
        );
        assert!(!r.allows("/a"));
        assert!(r.allows("/b"));
        assert!(!r.allows("/c"));
        assert_eq!(r.crawl_delay(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn star_groups_are_merged() {
        let r = robots("User-agent: *\nDisallow: /a\n\nUser-agent: *\nDisallow: /b\n");
        assert!(!r.allows("/a"));
        assert!(!r.allows("/b"));
        assert!(r.allows("/c"));
    }

    #[test]
    fn rules_before_any_user_agent_are_ignored() {
        let r = robots("Disallow: /\nUser-agent: *\nDisallow: /x\n");
        assert!(r.allows("/y"));
        assert!(!r.allows("/x"));
    }

    #[test]
    fn empty_group_for_us_allows_everything() {
        let r = robots("User-agent: *\nDisallow: /\n\nUser-agent: wardfeed\nDisallow:\n");
        assert!(r.allows("/anything"));
    }

    #[test]
    fn longest_match_wins() {
        let r = robots("User-agent: *\nDisallow: /tin-tuc/\nAllow: /tin-tuc/cong-khai/\n");
        assert!(!r.allows("/tin-tuc/noi-bo"));
        assert!(r.allows("/tin-tuc/cong-khai/1"));
        let r = robots("User-agent: *\nAllow: /tin-tuc/\nDisallow: /tin-tuc/noi-bo/\n");
        assert!(r.allows("/tin-tuc/1"));
        assert!(!r.allows("/tin-tuc/noi-bo/1"));
    }

    #[test]
    fn allow_wins_a_tie_in_either_order() {
        for text in [
            "User-agent: *\nDisallow: /page\nAllow: /page\n",
            "User-agent: *\nAllow: /page\nDisallow: /page\n",
        ] {
            assert!(robots(text).allows("/page"), "{text}");
        }
        // Wildcards count as bytes too: both patterns are 7 long.
        let r = robots("User-agent: *\nDisallow: /*.htm\nAllow: /tin*tm\n");
        assert!(r.allows("/tin.htm"));
        assert!(!r.allows("/other.htm"));
    }

    #[test]
    fn wildcard_matches_any_sequence() {
        let r = robots("User-agent: *\nDisallow: /*/print\nDisallow: /a*b*c\n");
        assert!(!r.allows("/tin-tuc/print"));
        assert!(!r.allows("/x/y/printable"));
        assert!(r.allows("/print"));
        assert!(!r.allows("/a-b-c"));
        assert!(!r.allows("/abc"));
        assert!(r.allows("/acb"));
    }

    #[test]
    fn dollar_anchors_the_end() {
        let r = robots("User-agent: *\nDisallow: /*.pdf$\nDisallow: /exact$\n");
        assert!(!r.allows("/files/a.pdf"));
        assert!(r.allows("/files/a.pdf?download=1"));
        assert!(r.allows("/files/a.pdf.html"));
        assert!(!r.allows("/exact"));
        assert!(r.allows("/exact/"));
    }

    #[test]
    fn dollar_anchor_needs_the_last_segment_at_the_very_end() {
        let r = robots("User-agent: *\nDisallow: /*a$\n");
        assert!(!r.allows("/banana"));
        assert!(r.allows("/bananas"));
        let r = robots("User-agent: *\nDisallow: /x*$\n");
        assert!(!r.allows("/x/anything"), "'*$' is just '*'");
    }

    #[test]
    fn dollar_inside_a_pattern_is_literal() {
        let r = robots("User-agent: *\nDisallow: /a$b\n");
        assert!(!r.allows("/a$b/c"));
        assert!(r.allows("/a"));
    }

    #[test]
    fn raw_utf8_pattern_matches_encoded_path() {
        let r = robots("User-agent: *\nDisallow: /tin-tức/nội-bộ\n");
        assert!(!r.allows("/tin-t%E1%BB%A9c/n%E1%BB%99i-b%E1%BB%99/1"));
        assert!(!r.allows("/tin-t%e1%bb%a9c/n%e1%bb%99i-b%e1%bb%99"));
        assert!(!r.allows("/tin-tức/nội-bộ/2"));
        assert!(r.allows("/tin-tuc/noi-bo"));
    }

    #[test]
    fn encoded_pattern_matches_raw_path() {
        let r = robots("User-agent: *\nDisallow: /tin-t%e1%bb%a9c/\n");
        assert!(!r.allows("/tin-tức/1"));
    }

    #[test]
    fn encoded_unreserved_characters_are_decoded() {
        let r = robots("User-agent: *\nDisallow: /%7Euser/%61dmin\n");
        assert!(!r.allows("/~user/admin"));
        let r = robots("User-agent: *\nDisallow: /~user/admin\n");
        assert!(!r.allows("/%7euser/%61dmin"));
    }

    #[test]
    fn encoded_slash_is_not_a_slash() {
        let r = robots("User-agent: *\nDisallow: /a/b\n");
        assert!(r.allows("/a%2Fb"));
        let r = robots("User-agent: *\nDisallow: /a%2fb\n");
        assert!(!r.allows("/a%2Fb"));
        assert!(r.allows("/a/b"));
    }

    #[test]
    fn longest_match_counts_the_normalised_pattern() {
        // Same path in two spellings: equal length, so allow wins.
        let r = robots("User-agent: *\nDisallow: /tin-tức\nAllow: /tin-t%E1%BB%A9c\n");
        assert!(r.allows("/tin-t%E1%BB%A9c"));
    }

    #[test]
    fn robots_txt_is_always_allowed() {
        assert!(Robots::disallow_all().allows("/robots.txt"));
        assert!(robots("User-agent: *\nDisallow: /robots.txt\n").allows("/robots.txt"));
    }

    #[test]
    fn allow_all_and_disallow_all() {
        let all = Robots::allow_all();
        let none = Robots::disallow_all();
        for path in ["/", "/tin-tuc/1", "/a?b=c", "/tin-t%E1%BB%A9c"] {
            assert!(all.allows(path), "{path}");
            assert!(!none.allows(path), "{path}");
        }
        assert_eq!(all.crawl_delay(), None);
        assert_eq!(none.crawl_delay(), None);
        assert_eq!(robots(""), Robots::allow_all());
    }

    #[test]
    fn path_without_leading_slash_is_read_from_the_root() {
        assert!(!Robots::disallow_all().allows(""));
        assert!(!Robots::disallow_all().allows("?q=1"));
        assert!(!robots("User-agent: *\nDisallow: /?\n").allows("?q=1"));
    }

    #[test]
    fn paths_are_case_sensitive() {
        let bytes = include_bytes!("../../tests/fixtures/portal/s1/phucdong/robots.txt");
        let r = Robots::parse(bytes, AGENT);
        assert!(!r.allows("/Admin/login"));
        assert!(r.allows("/admin/login"));
    }

    #[test]
    fn empty_disallow_disallows_nothing() {
        let r = robots("User-agent: *\nDisallow:\n");
        assert!(r.allows("/"));
        assert!(r.allows("/admin"));
    }

    #[test]
    fn pattern_without_leading_slash_is_rooted() {
        let r = robots("User-agent: *\nDisallow: admin/\n");
        assert!(!r.allows("/admin/x"));
    }

    #[test]
    fn messy_formatting_is_read() {
        let text = "\u{FEFF}# Cổng thông tin phường\r\n\
                    USER-AGENT:*   # everyone\r\n\
                    disallow:/admin/\r\n\
                    \r\n\
                    Sitemap: https://example.gov.vn/sitemap.xml\r\n\
                    Host: example.gov.vn\r\n\
                    Crawl-Delay :  2.5\r\
                    Disallow   :   /tim-kiem   \r\n\
                    Dissallow: /typo\n\
                    this line has no colon\n";
        let r = robots(text);
        assert!(!r.allows("/admin/x"));
        assert!(!r.allows("/tim-kiem"));
        assert!(!r.allows("/typo"));
        assert!(r.allows("/tin-tuc"));
        assert_eq!(r.crawl_delay(), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn unknown_directives_do_not_end_the_user_agent_lines() {
        let r = robots("User-agent: other\nSitemap: /s.xml\nUser-agent: wardfeed\nDisallow: /x\n");
        assert!(!r.allows("/x"));
    }

    #[test]
    fn crawl_delay_values() {
        let delay =
            |value: &str| robots(&format!("User-agent: *\nCrawl-delay: {value}\n")).crawl_delay();
        assert_eq!(delay("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(delay("0"), Some(Duration::ZERO));
        assert_eq!(delay("3600"), Some(Duration::from_secs(60)));
        assert_eq!(delay("inf"), Some(Duration::from_secs(60)));
        assert_eq!(delay("-1"), None);
        assert_eq!(delay("NaN"), None);
        assert_eq!(delay("soon"), None);
        assert_eq!(delay(""), None);
    }

    #[test]
    fn crawl_delay_belongs_to_its_group() {
        let r = robots("User-agent: other\nCrawl-delay: 10\n\nUser-agent: *\nDisallow: /x\n");
        assert_eq!(r.crawl_delay(), None);
        let r = robots("User-agent: wardfeed\nCrawl-delay: 4\nUser-agent: *\nCrawl-delay: 9\n");
        assert_eq!(r.crawl_delay(), Some(Duration::from_secs(4)));
    }

    #[test]
    fn garbage_is_allow_all() {
        let binary: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        assert_eq!(Robots::parse(&binary, AGENT), Robots::allow_all());
        assert_eq!(
            Robots::parse(b"\xFF\xFE\x00U\x00s\x00e\x00r:\x00*\n\xC3\x28: /", AGENT),
            Robots::allow_all()
        );
        let html = "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n\
                    <body><h1>Không tìm thấy trang</h1><p>Disallow: /</p></body></html>\n";
        assert_eq!(robots(html), Robots::allow_all());
    }

    #[test]
    fn non_utf8_patterns_do_not_panic() {
        let r = Robots::parse(b"User-agent: *\nDisallow: /\xFF\xC3\n", AGENT);
        assert!(!r.allows("/%FF%C3/x"));
        assert!(r.allows("/x"));
    }

    #[test]
    fn overlong_lines_are_skipped() {
        let long = format!(
            "User-agent: *\nDisallow: /{}\nDisallow: /b\n",
            "a".repeat(3000)
        );
        let r = robots(&long);
        assert!(r.allows(&format!("/{}", "a".repeat(3000))));
        assert!(!r.allows("/b"));
    }

    #[test]
    fn only_the_first_500_kib_are_read() {
        let mut text = String::from("User-agent: *\nDisallow: /early\n");
        while text.len() < MAX_ROBOTS_BYTES + 1000 {
            text.push_str("# padding padding padding padding padding padding\n");
        }
        text.push_str("Disallow: /late\n");
        let r = robots(&text);
        assert!(!r.allows("/early"));
        assert!(r.allows("/late"));
    }

    #[test]
    fn a_line_cut_at_the_limit_is_dropped() {
        let mut text = String::from("User-agent: *\nDisallow: /\n");
        text.push_str(&"#\n".repeat((MAX_ROBOTS_BYTES - text.len() - 8) / 2));
        // Cut mid-line this would read "Allow: /", overriding the disallow everywhere.
        text.push_str("Allow: /tin-tuc/noi-bo\n");
        assert!(text.len() > MAX_ROBOTS_BYTES);
        let r = robots(&text);
        assert!(!r.allows("/tin-tuc/1"));
    }

    #[test]
    fn pathological_wildcards_finish() {
        let pattern = "*a".repeat(900);
        let r = robots(&format!("User-agent: *\nDisallow: /{pattern}$\n"));
        assert!(r.allows(&format!("/{}", "a".repeat(899))));
        assert!(!r.allows(&format!("/{}", "a".repeat(900))));
    }
}
