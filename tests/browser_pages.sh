#!/usr/bin/env bash
# Pages as people see them: headless Chromium opens each page at 1280 px (desktop) and 390 px
# (phone), takes a screenshot at each width, and the script checks what Chromium built.
#
# Usage: tests/browser_pages.sh OUT_DIR NAME URL [NAME URL ...]
#   URL       a page served on 127.0.0.1 (never a remote host): the dashboard, or a feed (RSS or
#             Atom), which Chromium shows through wardfeed's XSLT
#   OUT_DIR   receives, per NAME: NAME-1280.png, NAME-390.png, NAME.dom.html (the DOM Chromium
#             built), and for HTML pages NAME-390.measure.txt (layout measured at 390 px)
#
# Checks, by what the page is:
#   dashboard  <html lang="vi">, a row per source with its anchor (id="source-…"), the small
#              multiples, autodiscovery links, no <script>; at 390 px nothing is wider than the
#              screen (no sideways scroll for the essentials)
#   feed page  the XSLT ran: the address to copy (id="feed-address"), the entries, Vietnamese
# The Rust test that serves the pages (tests/browser.rs) checks what each state must show.
#
# Screenshots of the whole page: the page's height is measured first and the window made that
# tall (feed pages, where no script may run, are cut at a fixed height).
#
# Needs Debian's chromium (`apt-get install -y chromium`; scripts/test.sh installs it) and curl;
# CHROMIUM overrides the binary.
set -euo pipefail

fail() {
    echo "browser_pages: $*" >&2
    exit 1
}

[[ $# -ge 3 && $(( ($# - 1) % 2 )) -eq 0 ]] || fail "usage: $0 OUT_DIR NAME URL [NAME URL ...]"
out=$1
shift

chromium=${CHROMIUM:-chromium}
command -v "$chromium" >/dev/null ||
    fail "$chromium not found: install it with 'apt-get install -y chromium' (or set CHROMIUM)"
command -v curl >/dev/null || fail "curl not found: apt-get install -y curl"

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Without the background-networking flags Chromium phones home (component updates, sync,
# QUIC probes) even when headless; this check must stay on loopback.
flags=(
    --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --disable-default-apps --disable-extensions --no-default-browser-check
    "--user-data-dir=$work/profile" --hide-scrollbars --force-device-scale-factor=1
)

browse() { # WIDTH HEIGHT LOG ARGS...
    local width=$1 height=$2 log=$3
    shift 3
    timeout 90 "$chromium" "${flags[@]}" "--window-size=$width,$height" "$@" 2>>"$log"
}

# Headless Chromium will not make a window narrower than 500 px, so a phone's 390 px is an
# iframe of that width in a page of our own: its media queries see 390 px. For the screenshot
# the frame is scaled to fill the 500 px window (the image is the 390 px layout, enlarged), and
# a tall page is taken in pieces of PIECE px (Chromium paints a tall scaled frame blank).
MIN_WINDOW=500
PIECE=2300

# The page FILE that shows SRC at WIDTH, HEIGHT tall, from OFFSET down, framed; EXTRA is
# appended to the framing page's body.
framed() { # SRC WIDTH HEIGHT FILE [OFFSET [EXTRA]]
    local src=$1 width=$2 height=$3 file=$4 offset=${5:-0} extra=${6:-}
    local scale shift
    scale=$(awk -v w="$width" -v m="$MIN_WINDOW" 'BEGIN { printf "%.6f", m / w }')
    shift=$(awk -v o="$offset" -v s="$scale" 'BEGIN { printf "%.1f", o * s }')
    cat >"$file" <<HTML
<!DOCTYPE html><html><head><meta charset="utf-8"><style>body{margin:0;overflow:hidden}
iframe{display:block;border:0;width:${width}px;height:${height}px;transform-origin:0 0;
transform:translateY(-${shift}px) scale($scale)}</style></head><body><iframe src="$src"></iframe>
$extra</body></html>
HTML
}

# Measures an HTML page at WIDTH: a copy with a script that reports the layout (the page itself
# carries no script; its CSS and SVG are inline, so the copy lays out alike).
measure() { # NAME URL WIDTH
    local name=$1 url=$2 width=$3
    local copy="$work/$name-$width.html" result="$out/$name-$width.measure.txt"
    curl -fsS --max-time 30 "$url" >"$copy" || fail "$url: could not fetch the page"
    # A copy without the probe, for the framed screenshot: no network in the way.
    cp "$copy" "$work/$name.page.html"
    local probe='<script>window.addEventListener("load",()=>{const d=document.documentElement;
const wide=[...document.querySelectorAll("main *")].filter(e=>!e.closest("details:not([open])")
&&e.getBoundingClientRect().width>0&&e.getBoundingClientRect().right>innerWidth+0.5);
const t="innerWidth="+innerWidth+" scrollWidth="+d.scrollWidth+" scrollHeight="+d.scrollHeight+
" overflowing="+wide.length+(wide.length?" first="+wide[0].tagName+"."+wide[0].className:"");
if(parent!==window){parent.postMessage(t,"*")}else{const p=document.createElement("pre");
p.id="measure";p.textContent=t;document.body.append(p)}});</script>'
    # Before </body>; the probe is one line for sed.
    probe=$(printf '%s' "$probe" | tr '\n' ' ')
    sed -i "s#</body>#${probe//&/\\&}</body>#" "$copy"
    local open="file://$copy" window=$width
    if [[ $width -lt $MIN_WINDOW ]]; then
        open="file://$work/$name-$width.frame.html"
        window=$MIN_WINDOW
        framed "file://$copy" "$width" 1200 "$work/$name-$width.frame.html" 0 \
            '<pre id="measure"></pre><script>addEventListener("message",e=>{
document.getElementById("measure").textContent=e.data})</script>'
    fi
    browse "$window" 1200 "$out/chromium.log" --virtual-time-budget=5000 --dump-dom "$open" \
        >"$work/measured.html" ||
        fail "chromium --dump-dom failed measuring $name at $width px (see $out/chromium.log)"
    grep -o '<pre id="measure">[^<]*' "$work/measured.html" | cut -d'>' -f2 >"$result" &&
        [[ -s $result ]] ||
        fail "$name at $width px: the layout probe did not run (see $out/chromium.log)"
    cat "$result"
}

# Screenshots of URL at WIDTH, HEIGHT tall: PNG, or for a framed phone view of a tall page
# PNG (the top) and PNG-2, PNG-3… (the rest) with PNG's name less its .png. The frame shows
# FRAME_SRC (a local copy of an HTML page; the URL itself for a feed page).
screenshot() { # URL WIDTH HEIGHT PNG FRAME_SRC
    local url=$1 width=$2 height=$3 png=$4 src=$5
    if [[ $width -ge $MIN_WINDOW ]]; then
        browse "$width" "$height" "$out/chromium.log" "--screenshot=$png" "$url"
        return
    fi
    local offset=0 piece=1 target=$png frame="$work/shot-$width.html"
    while [[ $offset -lt $height ]]; do
        local tall=$(( height - offset < PIECE ? height - offset : PIECE ))
        framed "$src" "$width" "$height" "$frame" "$offset"
        local window_height
        window_height=$(awk -v h="$tall" -v w="$width" -v m="$MIN_WINDOW" \
            'BEGIN { printf "%d", h * m / w + 1 }')
        # A frame still loading paints blank: a few tries, each waiting longer.
        local try size=0
        for try in 1 2 3; do
            browse "$MIN_WINDOW" "$window_height" "$out/chromium.log" \
                "--virtual-time-budget=$(( try * 5000 ))" "--screenshot=$target" \
                "file://$frame" || return 1
            size=$(stat -c %s "$target")
            [[ $size -gt 20000 ]] && break
            echo "browser_pages: $target blank on try $try ($size bytes)" >>"$out/chromium.log"
        done
        offset=$(( offset + PIECE ))
        piece=$(( piece + 1 ))
        target="${png%.png}-$piece.png"
    done
}

field() { # FILE KEY
    grep -o "$2=[0-9]*" "$1" | head -1 | cut -d= -f2
}

check_dashboard() { # NAME DOM
    local name=$1 dom=$2
    grep -q '<html lang="vi"' "$dom" || fail "$name: no <html lang=\"vi\">"
    grep -q '<table class="sources"' "$dom" || fail "$name: no table of sources"
    local rows
    rows=$(grep -c '<tr id="source-[a-z0-9_-]*"' "$dom" || true)
    [[ $rows -gt 0 ]] || fail "$name: the sources table has no rows with anchors"
    grep -q '<ul class="multiples">' "$dom" || fail "$name: no small multiples"
    grep -q '<link rel="alternate" type="application/rss+xml"' "$dom" ||
        fail "$name: no autodiscovery link"
    if grep -qi '<script' "$dom"; then
        fail "$name: the page contains a <script> element; the dashboard carries no JavaScript"
    fi
    echo "browser_pages: $name: dashboard, $rows source rows"
}

check_feed_page() { # NAME DOM
    local name=$1 dom=$2
    grep -q 'id="feed-address"' "$dom" ||
        fail "$name: no feed address: the XSLT was not applied (is the <?xml-stylesheet?> there?)"
    grep -q 'Sao chép địa chỉ' "$dom" || fail "$name: no 'copy this address' text"
    local entries
    entries=$(grep -c '<li><h3>' "$dom" || true)
    [[ $entries -gt 0 ]] || fail "$name: the feed page lists no entries"
    echo "browser_pages: $name: feed page, $entries entries"
}

while [[ $# -gt 0 ]]; do
    name=$1 url=$2
    shift 2
    case $url in
        http://127.0.0.1[:/]* | http://localhost[:/]*) ;;
        *) fail "refusing $url: serve the page on 127.0.0.1, this check must not reach the network" ;;
    esac
    dom="$out/$name.dom.html"
    rm -f "$out/$name"-*.png "$dom" "$out/$name"-*.measure.txt
    browse 1280 1600 "$out/chromium.log" --dump-dom "$url" >"$dom" ||
        fail "chromium --dump-dom failed for $url (see $out/chromium.log)"
    [[ -s $dom ]] || fail "the DOM dump $dom is empty: did the server answer at $url?"

    kind=feed
    content_type=$(curl -fsS --max-time 30 -o /dev/null -w '%{content_type}' "$url")
    [[ $content_type == text/html* ]] && kind=html

    for width in 1280 390; do
        height=$([[ $width == 390 ]] && echo 2300 || echo 1800)
        if [[ $kind == html ]]; then
            measure "$name" "$url" "$width" >/dev/null
            measured="$out/$name-$width.measure.txt"
            inner=$(field "$measured" innerWidth)
            [[ $inner == "$width" ]] ||
                fail "$name: the window is $inner px wide, not $width: check Chromium's --window-size"
            scroll=$(field "$measured" scrollWidth)
            [[ $scroll -le $width ]] ||
                fail "$name at $width px: the page is $scroll px wide (sideways scroll): $(cat "$measured")"
            [[ $(field "$measured" overflowing) == 0 ]] ||
                fail "$name at $width px: elements wider than the screen: $(cat "$measured")"
            height=$(field "$measured" scrollHeight)
        fi
        png="$out/$name-$width.png"
        src=$url
        [[ $kind == html ]] && src="file://$work/$name.page.html"
        screenshot "$url" "$width" "$height" "$png" "$src" ||
            fail "chromium --screenshot failed for $url (see $out/chromium.log)"
        [[ -f $png ]] || fail "no screenshot at $png (see $out/chromium.log)"
        size=$(stat -c %s "$png")
        [[ $size -gt 20000 ]] || fail "screenshot $png is only $size bytes: the page rendered blank?"
    done

    if grep -q '<table class="sources"' "$dom"; then
        check_dashboard "$name" "$dom"
    else
        check_feed_page "$name" "$dom"
    fi
done
echo "browser_pages: ok: screenshots in $out"
