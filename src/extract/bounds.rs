//! Bounds on the work one page may cost before it is parsed into a DOM.
//!
//! html5ever's tree builder is quadratic in nesting depth (100,000 nested `<div>`s, 1.1 MB,
//! took 65 s) and a DOM costs a few hundred bytes per element (a 7.9 MB listing of 190,000
//! items took 544 MB). So a page is first run through html5ever's tokenizer alone, which is
//! linear, counting elements and tracking how deep they nest; a page past either limit is cut
//! where the limit was reached and only that prefix is parsed, with a warning saying so.

use std::cell::{Cell, RefCell};

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

/// Deeper than any real page (portal templates nest 20–60 levels); parsing a page this deep
/// takes milliseconds.
pub const MAX_DEPTH: usize = 512;
/// Far more than any portal page has (a listing of 50 items is about 2,000 elements); a DOM of
/// this many elements is some tens of MB.
pub const MAX_ELEMENTS: usize = 100_000;
/// The tokenizer is fed this much at a time; a page is cut at such a boundary.
const CHUNK_BYTES: usize = 4096;

/// The limits a page is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    pub max_depth: usize,
    pub max_elements: usize,
}

impl Default for PageLimits {
    fn default() -> PageLimits {
        PageLimits {
            max_depth: MAX_DEPTH,
            max_elements: MAX_ELEMENTS,
        }
    }
}

/// Why a page was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// Bytes of the page kept.
    pub kept: usize,
    pub total: usize,
    pub reason: CutReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutReason {
    /// Elements nest deeper than this.
    Depth(usize),
    /// The page has more elements than this.
    Elements(usize),
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.reason {
            CutReason::Depth(limit) => format!("its elements nest more than {limit} deep"),
            CutReason::Elements(limit) => format!("it has more than {limit} elements"),
        };
        write!(
            f,
            "page cut after {} of {} bytes: {why}",
            self.kept, self.total
        )
    }
}

/// `html`, or the prefix of it that stays within `limits`, and the cut if there was one.
pub fn bounded(html: &str, limits: PageLimits) -> (&str, Option<Cut>) {
    let tokenizer = Tokenizer::new(Counter::new(limits), TokenizerOpts::default());
    let queue = BufferQueue::default();
    let mut start = 0;
    while start < html.len() {
        let mut end = (start + CHUNK_BYTES).min(html.len());
        while !html.is_char_boundary(end) {
            end += 1;
        }
        queue.push_back(StrTendril::from_slice(&html[start..end]));
        let _ = tokenizer.feed(&queue);
        if let Some(reason) = tokenizer.sink.over.get() {
            // The limit was passed inside this chunk: keep the chunks before it.
            return (
                &html[..start],
                Some(Cut {
                    kept: start,
                    total: html.len(),
                    reason,
                }),
            );
        }
        start = end;
    }
    (html, None)
}

/// Counts elements and tracks the open ones as a tree builder would, roughly: end tags close
/// back to their start tag, void elements and `<p>`/`<li>`/… siblings do not nest.
struct Counter {
    limits: PageLimits,
    open: RefCell<Vec<html5ever::LocalName>>,
    elements: Cell<usize>,
    over: Cell<Option<CutReason>>,
}

impl Counter {
    fn new(limits: PageLimits) -> Counter {
        Counter {
            limits,
            open: RefCell::new(Vec::new()),
            elements: Cell::new(0),
            over: Cell::new(None),
        }
    }
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "param", "keygen", "basefont", "bgsound", "frame",
];
/// Elements a start tag of the same name closes when it is the current one.
const SELF_CLOSING_SIBLINGS: &[&str] = &["p", "li", "dt", "dd", "option", "tr", "td", "th"];

impl TokenSink for Counter {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let Token::TagToken(tag) = token else {
            return TokenSinkResult::Continue;
        };
        if self.over.get().is_some() {
            return TokenSinkResult::Continue;
        }
        let mut open = self.open.borrow_mut();
        match tag.kind {
            TagKind::StartTag => {
                let elements = self.elements.get() + 1;
                self.elements.set(elements);
                if elements > self.limits.max_elements {
                    self.over
                        .set(Some(CutReason::Elements(self.limits.max_elements)));
                }
                let name = &*tag.name;
                if tag.self_closing || VOID.contains(&name) {
                    return TokenSinkResult::Continue;
                }
                if SELF_CLOSING_SIBLINGS.contains(&name) && open.last() == Some(&tag.name) {
                    open.pop();
                }
                open.push(tag.name.clone());
                if open.len() > self.limits.max_depth {
                    self.over.set(Some(CutReason::Depth(self.limits.max_depth)));
                }
                // The tokenizer must read these elements' content as the tree builder would
                // have told it to, or markup inside a script would count as elements.
                match name {
                    "script" => TokenSinkResult::RawData(RawKind::ScriptData),
                    "title" | "textarea" => TokenSinkResult::RawData(RawKind::Rcdata),
                    "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => {
                        TokenSinkResult::RawData(RawKind::Rawtext)
                    }
                    "plaintext" => TokenSinkResult::Plaintext,
                    _ => TokenSinkResult::Continue,
                }
            }
            TagKind::EndTag => {
                if let Some(at) = open.iter().rposition(|name| *name == tag.name) {
                    open.truncate(at);
                }
                TokenSinkResult::Continue
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_pages_pass_whole() {
        let page = "<html><head><title>a <b> c</title><script>for(i=0;i<9;i++)document.write('<div>')</script></head><body><ul><li>1<li>2<li>3</ul><p>a<p>b<br><img src=x></body></html>";
        assert_eq!(bounded(page, PageLimits::default()), (page, None));
        let limits = PageLimits {
            max_depth: 5,
            max_elements: 100,
        };
        assert_eq!(
            bounded(page, limits).1,
            None,
            "siblings and voids do not nest"
        );
    }

    #[test]
    fn deep_nesting_is_cut_where_it_passes_the_limit() {
        let page = format!(
            "<html><body>{}x{}</body></html>",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        let (kept, cut) = bounded(&page, PageLimits::default());
        let cut = cut.expect("cut");
        assert_eq!(cut.reason, CutReason::Depth(MAX_DEPTH));
        assert_eq!(cut.total, page.len());
        assert!(
            kept.len() <= (MAX_DEPTH + 2) * 5 && kept.len() % CHUNK_BYTES == 0,
            "{}",
            kept.len()
        );
        assert_eq!(
            cut.to_string(),
            format!(
                "page cut after {} of {} bytes: its elements nest more than 512 deep",
                kept.len(),
                page.len()
            )
        );
    }

    #[test]
    fn too_many_elements_are_cut_and_closed_ones_do_not_deepen() {
        let page = "<div><a>x</a></div>".repeat(60_000);
        let (kept, cut) = bounded(&page, PageLimits::default());
        assert_eq!(
            cut.as_ref().map(|c| c.reason),
            Some(CutReason::Elements(MAX_ELEMENTS))
        );
        let elements = kept.matches("<a>").count() + kept.matches("<div>").count();
        assert!(
            elements <= MAX_ELEMENTS && elements > MAX_ELEMENTS - CHUNK_BYTES / 5,
            "{elements}"
        );
    }

    #[test]
    fn multibyte_text_is_cut_on_a_character_boundary() {
        let page = format!(
            "{}{}",
            "<i>Phường Phúc Lợi ".repeat(4000),
            "</i>".repeat(4000)
        );
        let limits = PageLimits {
            max_depth: 1000,
            max_elements: 100_000,
        };
        let (kept, cut) = bounded(&page, limits);
        assert!(cut.is_some());
        assert!(page.starts_with(kept));
    }
}
