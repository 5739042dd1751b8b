#!/usr/bin/env bash
# Browser check of the district dashboard: headless Chromium renders the page at a URL, and
# the script checks the DOM it built and the screenshot it took.
#
# Usage: tests/dashboard_browser.sh URL OUT_DIR
#   URL      the dashboard, served on 127.0.0.1 (never a remote host)
#   OUT_DIR  receives dashboard.png (1280×2000 screenshot) and dashboard.dom.html
#
# A sample page to serve:
#   mkdir -p /tmp/wardfeed-dash
#   WARDFEED_DASHBOARD_SAMPLE=/tmp/wardfeed-dash/index.html \
#     cargo test --lib render::dashboard::tests::writes_sample_page_when_asked
#   (cd /tmp/wardfeed-dash && python3 -m http.server --bind 127.0.0.1 8765) &
#   tests/dashboard_browser.sh http://127.0.0.1:8765/ /tmp/wardfeed-dash/out
#
# Needs Debian's chromium (`apt-get install -y chromium`); CHROMIUM overrides the binary.
set -euo pipefail

fail() {
    echo "dashboard_browser: $*" >&2
    exit 1
}

[[ $# -eq 2 ]] || fail "usage: $0 URL OUT_DIR"
url=$1
out=$2
case $url in
    http://127.0.0.1[:/]* | http://localhost[:/]* | file://*) ;;
    *) fail "refusing $url: serve the page on 127.0.0.1, this check must not reach the network" ;;
esac

chromium=${CHROMIUM:-chromium}
command -v "$chromium" >/dev/null ||
    fail "$chromium not found: install it with 'apt-get install -y chromium' (or set CHROMIUM)"

mkdir -p "$out"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

# Without the background-networking flags Chromium phones home (component updates, sync,
# QUIC probes) even when headless; this check must stay on loopback.
flags=(
    --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --disable-default-apps --disable-extensions --no-default-browser-check
    "--user-data-dir=$profile" --window-size=1280,2000 --hide-scrollbars
)

png="$out/dashboard.png"
dom="$out/dashboard.dom.html"
rm -f "$png" "$dom"

timeout 60 "$chromium" "${flags[@]}" "--screenshot=$png" "$url" >"$out/chromium.log" 2>&1 ||
    fail "chromium --screenshot failed for $url (see $out/chromium.log)"
timeout 60 "$chromium" "${flags[@]}" --dump-dom "$url" >"$dom" 2>>"$out/chromium.log" ||
    fail "chromium --dump-dom failed for $url (see $out/chromium.log)"

[[ -s $dom ]] || fail "the DOM dump $dom is empty: did the server answer at $url?"
grep -q '<html lang="vi"' "$dom" || fail "$dom: no <html lang=\"vi\">: is $url the dashboard?"
grep -q '<table class="sources"' "$dom" || fail "$dom: no table of sources"
rows=$(grep -c '<tr id="s[0-9]*-[0-9]*"' "$dom" || true)
[[ $rows -gt 0 ]] || fail "$dom: the sources table has no rows"
grep -q '<svg[^>]*role="img"' "$dom" || fail "$dom: no chart (<svg role=\"img\">)"
if grep -qi '<script' "$dom"; then
    fail "$dom: the page contains a <script> element; the dashboard must carry no JavaScript"
fi

[[ -f $png ]] || fail "no screenshot at $png (see $out/chromium.log)"
size=$(stat -c %s "$png")
[[ $size -gt 20000 ]] ||
    fail "screenshot $png is only $size bytes: the page probably rendered blank"

echo "dashboard_browser: ok: $rows source rows, chart present, screenshot $png ($size bytes)"
