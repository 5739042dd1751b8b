#!/usr/bin/env python3
"""Regenerates the curated seed corpus fuzz/seeds/<target>/ from the fixture world.

Run from anywhere: python3 fuzz/seeds/make.py. The fixture pages are served with `{{BASE}}`
replaced by the site's base (tests/fixtures/README.md), so the seeds are too. Hand-written seeds
(`hand-*`: the forms the unit tests name; in ingest_feed some are copies of feedparser's test
cases, BSD-licensed, tests/data/feedparser/LICENSE) and crash inputs found and fixed (`fixed-*`)
live in the same folders and are kept as they are. A page the same in both snapshots is written once.
The selection is deterministic, so rerunning this after a fixture change gives a reviewable
diff.
"""

import hashlib
import html
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PORTAL = ROOT / "tests" / "fixtures" / "portal"
BASE = "http://127.0.0.1:8080"
KEPT = ("hand-", "fixed-")
TARGETS = ["canonical_url", "parse_date", "normalize_text", "extract_html", "ingest_feed"]


def served(site: str, path: Path) -> str:
    """The page as extraction sees it: decoded by its declared charset (some legacy pages are
    windows-1258), with `{{BASE}}` replaced as the fixture server does."""
    raw = path.read_bytes()
    charset = re.search(rb'charset="?([\w-]+)', raw[:2048])
    text = raw.decode(charset.group(1).decode() if charset else "utf-8", errors="replace")
    return text.replace("{{BASE}}", f"{BASE}/{site}")


def every_nth(items, count):
    """`count` items spread evenly over a sorted list."""
    items = sorted(items)
    if len(items) <= count:
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def shape(text: str) -> str:
    """Digits and letters folded, so one seed stands for each way of writing a value."""
    return re.sub(r"[^\W\d_]+", "a", re.sub(r"\d+", "9", text))


def write(target: str, name: str, content) -> None:
    data = content.encode("utf-8") if isinstance(content, str) else content
    (HERE / target / name).write_bytes(data)


def short_name(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def main() -> None:
    for target in TARGETS:
        (HERE / target).mkdir(exist_ok=True)
        for seed in (HERE / target).iterdir():
            if not seed.name.startswith(KEPT):
                seed.unlink()

    pages = []  # (snapshot, site, kind, path)
    for snapshot in ["s1", "s2"]:
        for site_dir in sorted((PORTAL / snapshot).iterdir()):
            if not site_dir.is_dir():
                continue
            for kind in ["pages", "articles", "errors"]:
                for path in sorted((site_dir / kind).glob("*.html")):
                    pages.append((snapshot, site_dir.name, kind, path))

    # extract_html: listings and articles of both templates, a few other pages, both snapshots.
    chosen = []
    for site, listings, articles in [
        ("phucloi", 4, 6), ("phucdong", 4, 6), ("longbien", 1, 2), ("bode", 1, 2), ("thachban", 1, 2),
    ]:
        mine = [p for p in pages if p[1] == site]
        listing_pages = [p for p in mine if p[2] == "pages" and re.search(r"-p\d\.html$|tab\d+", p[3].name)]
        chosen += every_nth(listing_pages, listings)
        chosen += every_nth([p for p in mine if p[2] == "articles"], articles)
        chosen += every_nth([p for p in mine if p[2] in ("errors",) or p[3].name == "home.html"], 1)
    written = set()
    for snapshot, site, kind, path in chosen:
        page = served(site, path)
        if page not in written:
            written.add(page)
            write("extract_html", f"{snapshot}-{site}-{kind}-{path.stem}.html", page)

    # ingest_feed: the district's RSS in both snapshots.
    for snapshot in ["s1", "s2"]:
        for feed in sorted((PORTAL / snapshot / "longbien" / "feeds").glob("*")):
            write("ingest_feed", f"{snapshot}-longbien-{feed.name}", served("longbien", feed))

    # canonical_url: every way the pages write a link, one example of each shape.
    hrefs = {}
    for snapshot, site, kind, path in pages:
        for href in re.findall(r'href="([^"]*)"', served(site, path)):
            href = html.unescape(href)
            hrefs.setdefault(shape(href), href)
    for href in every_nth(hrefs.values(), 40):
        write("canonical_url", short_name("page", href), href)

    # parse_date: every way the pages and the feed print a date, one example of each shape.
    dates = {}
    date_re = re.compile(
        r'class="(?:news-meta|article-meta|tdDate|Ngay)"[^>]*>(.*?)</(?:div|td|span)>'
        r"|<pubDate>(.*?)</pubDate>",
        re.S | re.I,
    )
    sources = [(site, path) for _, site, _, path in pages]
    sources += [("longbien", f) for s in ["s1", "s2"] for f in (PORTAL / s / "longbien" / "feeds").glob("*")]
    for site, path in sources:
        for match in date_re.finditer(served(site, path)):
            text = html.unescape(re.sub(r"<[^>]*>", " ", match.group(1) or match.group(2))).strip()
            if text:
                dates.setdefault(shape(text), text)
    for text in every_nth(dates.values(), 20):
        write("parse_date", short_name("page", text), text)

    # normalize_text: titles and summaries from the ground truth, a few of each site.
    texts = set()
    for truth in sorted((PORTAL / "expected").glob("s*/*.json")):
        if truth.stem in ("combined", "changes"):
            continue
        for item in json.loads(truth.read_text(encoding="utf-8")):
            for key in ("title", "summary"):
                if item.get(key):
                    texts.add(item[key])
    for text in every_nth(texts, 30):
        write("normalize_text", short_name("truth", text), text)


if __name__ == "__main__":
    main()
