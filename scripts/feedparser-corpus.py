#!/usr/bin/env python3
"""Fetches feedparser 6.0.11's own test suite into tests/data/feedparser/, with its licence,
and records what feedparser 6.0.11 itself reads from each case in expected.json.

    /usr/bin/python3 scripts/feedparser-corpus.py    # download, extract, write expected.json

The data is committed, so `cargo test --test feedparser_corpus` runs offline; run this again
only to refresh it. It needs pip (to download the sdist from PyPI) and, to run feedparser,
sgmllib3k (Debian: python3-sgmllib3k, which Debian's python3-feedparser brings; or
`pip install sgmllib3k`), hence Debian's /usr/bin/python3 above. chardet is deliberately not
used: without it feedparser's encoding guesses are its own rules only, as ours are.

Each case is parsed the way feedparser's runtests.py does: a case whose path names `http` as
its test server serves it (the HTTP headers its `Header:` comment lines name, its URL
http://127.0.0.1:8097/tests/... as the base), any other from its bytes alone (no headers, no
base: the Rust test resolves a relative link that feedparser leaves relative against that URL).
"""

import calendar
import hashlib
import json
import mimetypes
import os
import re
import subprocess
import sys
import tarfile
import tempfile

VERSION = "6.0.11"
SDIST_SHA256 = "c9d0407b64c6f2a065d0ebb292c2b35c01050cc0dc33757461aaabdc4c4184d5"
# The suites that hold feeds: HTTP status and compression cases test feedparser's HTTP client.
SUITES = ("wellformed", "illformed", "encoding", "entities")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEST = os.path.join(ROOT, "tests", "data", "feedparser")
HEADER = re.compile(rb"^Header:\s+([^:]+):(.+)$", re.MULTILINE)


def download(work):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", f"feedparser=={VERSION}", "--no-deps",
         "--no-binary", ":all:", "-d", work],
        check=True,
    )
    path = os.path.join(work, f"feedparser-{VERSION}.tar.gz")
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != SDIST_SHA256:
        sys.exit(f"feedparser-{VERSION}.tar.gz: sha256 {digest}, expected {SDIST_SHA256}")
    return path


def extract(sdist, work):
    prefix = f"feedparser-{VERSION}/"
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(work, filter="data")
        else:  # Python before 3.11.4; the archive's digest is checked above
            tar.extractall(work)
    src = os.path.join(work, prefix)
    if os.path.exists(DEST):
        subprocess.run(["rm", "-rf", DEST], check=True)
    os.makedirs(DEST)
    subprocess.run(["cp", os.path.join(src, "LICENSE"), DEST], check=True)
    for suite in SUITES:
        subprocess.run(["cp", "-r", os.path.join(src, "tests", suite), DEST], check=True)
    return src


def instant(entry):
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            return calendar.timegm(parsed)
    return None


def expectations(feedparser):
    cases = []
    for dirpath, _, files in sorted(os.walk(DEST)):
        for name in sorted(files):
            if not name.endswith(".xml"):
                continue
            path = os.path.relpath(os.path.join(dirpath, name), DEST)
            with open(os.path.join(DEST, path), "rb") as f:
                data = f.read()
            headers = {k.decode().strip().lower(): v.decode().strip()
                       for k, v in HEADER.findall(data)}
            url = f"http://127.0.0.1:8097/tests/{path}"
            if "http" in path:
                # Served by runtests.py's test server: these headers, the URL as the base.
                headers.setdefault("content-type", mimetypes.guess_type(path)[0])
                response_headers = dict(headers, **{"content-location": url})
            else:
                # Read from the file: no headers, no base (relative links stay relative).
                response_headers = None
            try:
                result = feedparser.parse(data, response_headers=response_headers)
            except Exception as crash:  # feedparser's own bug: kept, and left out of the test
                cases.append({"path": path, "content_type": headers.get("content-type"),
                              "crash": f"{type(crash).__name__}: {crash}"})
                continue
            exception = result.get("bozo_exception")
            cases.append({
                "path": path,
                "content_type": headers.get("content-type"),
                "bozo": bool(result.get("bozo")),
                "bozo_exception": f"{type(exception).__name__}: {exception}" if exception else None,
                "version": result.get("version", ""),
                "encoding": result.get("encoding"),
                "feed_title": result.feed.get("title"),
                "feed_title_type": result.feed.get("title_detail", {}).get("type"),
                "entries": [
                    {
                        "link": entry.get("link"),
                        "id": entry.get("id"),
                        "title": entry.get("title"),
                        "title_type": entry.get("title_detail", {}).get("type"),
                        "published": instant(entry),
                    }
                    for entry in result.entries
                ],
            })
    return cases


def main():
    with tempfile.TemporaryDirectory() as work:
        src = extract(download(work), work)
        sys.path.insert(0, src)
        import feedparser
        assert feedparser.__version__ == VERSION, feedparser.__file__
        cases = expectations(feedparser)
    out = {
        "feedparser": VERSION,
        "command": "/usr/bin/python3 scripts/feedparser-corpus.py",
        "cases": cases,
    }
    with open(os.path.join(DEST, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")
    wellformed = [c for c in cases if not c.get("crash") and not c["bozo"] and c["entries"]]
    print(f"{len(cases)} cases, {len(wellformed)} well-formed with entries -> {DEST}")


if __name__ == "__main__":
    main()
