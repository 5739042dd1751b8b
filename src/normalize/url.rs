//! URLs: resolving links found on pages, and the canonical form that gives an item its identity.

use url::Url;

/// Query parameters that never belong to an item's identity: tracking tags and per-source
/// session values. A pattern ending in `*` matches by prefix (`utm_*`); names compare
/// ASCII-case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryFilter {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl QueryFilter {
    pub fn new<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> QueryFilter {
        let mut filter = QueryFilter::default();
        for pattern in patterns {
            let pattern = pattern.as_ref().trim().to_ascii_lowercase();
            match pattern.strip_suffix('*') {
                Some(prefix) => filter.prefixes.push(prefix.to_owned()),
                None => filter.exact.push(pattern),
            }
        }
        filter
    }

    fn drops(&self, raw_name: &str) -> bool {
        let name = percent_encoding::percent_decode_str(raw_name)
            .decode_utf8_lossy()
            .to_ascii_lowercase();
        self.exact.contains(&name) || self.prefixes.iter().any(|p| name.starts_with(p))
    }
}

/// Resolves a link as found in a page (`href`, `src`) against the page's base URL.
/// Returns `None` for links that point nowhere a reader can follow (`javascript:`, `data:`,
/// `mailto:`, empty) — those are never items or images.
pub fn resolve_link(base: &Url, href: &str) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    let url = base.join(href).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// The canonical form of an article URL: scheme and host lower-cased and the default port
/// dropped (both by `Url` itself), the fragment removed, and filtered query parameters removed.
/// The remaining parameters keep their original order and spelling, because portals such as
/// DotNetNuke route on the raw query string.
pub fn canonical_url(url: &Url, filter: &QueryFilter) -> Url {
    let mut canonical = url.clone();
    canonical.set_fragment(None);
    if let Some(query) = url.query() {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| !filter.drops(pair.split('=').next().unwrap_or(pair)))
            .collect();
        if kept.is_empty() {
            canonical.set_query(None);
        } else {
            canonical.set_query(Some(&kept.join("&")));
        }
    }
    canonical
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> QueryFilter {
        QueryFilter::new(["utm_*", "fbclid", "sid"])
    }

    fn canon(base: &str, href: &str) -> String {
        let base = Url::parse(base).unwrap();
        canonical_url(&resolve_link(&base, href).unwrap(), &filter()).to_string()
    }

    #[test]
    fn resolves_relative_links_like_a_browser() {
        let page = "http://127.0.0.1:8080/phucloi/tin-tuc/tin-moi-nhat?page=2";
        assert_eq!(
            canon(page, "chi-tiet/x-1.html"),
            "http://127.0.0.1:8080/phucloi/tin-tuc/chi-tiet/x-1.html"
        );
        assert_eq!(
            canon(page, "../tin-tuc/chi-tiet/x-1.html"),
            "http://127.0.0.1:8080/phucloi/tin-tuc/chi-tiet/x-1.html"
        );
        assert_eq!(
            canon(page, "/phucloi/tin-tuc/chi-tiet/x-1.html"),
            "http://127.0.0.1:8080/phucloi/tin-tuc/chi-tiet/x-1.html"
        );
    }

    #[test]
    fn drops_tracking_fragment_and_session_but_keeps_order() {
        let page = "http://h/phucdong/Default.aspx?tabid=118";
        assert_eq!(
            canon(page, "Default.aspx?tabid=118&ArticleID=3532&sid=04bb18"),
            "http://h/phucdong/Default.aspx?tabid=118&ArticleID=3532"
        );
        assert_eq!(
            canon(page, "x.html?utm_source=zalo&utm_medium=share#binh-luan"),
            "http://h/phucdong/x.html"
        );
        assert_eq!(
            canon(page, "x?b=2&UTM_Campaign=q&a=1"),
            "http://h/phucdong/x?b=2&a=1"
        );
    }

    #[test]
    fn lowercases_scheme_and_host_and_drops_default_port() {
        assert_eq!(
            canon("HTTP://Example.COM:80/a", "/B?x=1"),
            "http://example.com/B?x=1"
        );
        assert_eq!(
            canon("https://example.com:443/", "a"),
            "https://example.com/a"
        );
    }

    #[test]
    fn refuses_links_that_go_nowhere() {
        let base = Url::parse("http://h/a/").unwrap();
        for href in [
            "",
            "  ",
            "javascript:void(0)",
            "mailto:x@y",
            "data:image/gif;base64,R0",
        ] {
            assert!(resolve_link(&base, href).is_none(), "{href:?}");
        }
    }

    #[test]
    fn canonicalisation_is_idempotent() {
        let url = Url::parse("http://h/p?a=1&utm_x=2&b=&c#f").unwrap();
        let once = canonical_url(&url, &filter());
        assert_eq!(canonical_url(&once, &filter()), once);
    }
}
