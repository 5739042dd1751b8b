#!/usr/bin/env bash
# A resident subscribes with newsboat through wardfeed's resident OPML, as a person would: the
# OPML is imported (`newsboat -i`), newsboat runs in a tmux window, reloads every feed, and the
# script captures what the screen shows — the feed list, then the combined feed's articles.
#
# Usage: tests/newsboat_residents.sh BASE_URL OUT_DIR
#   BASE_URL  wardfeed on 127.0.0.1 (never a remote host), e.g. http://127.0.0.1:8080
#   OUT_DIR   receives residents.opml, urls (what newsboat imported), feeds.txt (the feed list
#             as the screen showed it) and combined.txt (the combined feed's article list)
# tests/newsboat.rs checks the captures. Needs newsboat, tmux and curl (scripts/test.sh
# installs them).
set -euo pipefail

fail() {
    echo "newsboat_residents: $*" >&2
    exit 1
}

[[ $# -eq 2 ]] || fail "usage: $0 BASE_URL OUT_DIR"
base=${1%/}
out=$2
case $base in
    http://127.0.0.1:* | http://localhost:*) ;;
    *) fail "refusing $base: serve wardfeed on 127.0.0.1, this check must not reach the network" ;;
esac
for tool in newsboat tmux curl; do
    command -v "$tool" >/dev/null || fail "$tool not found: apt-get install -y $tool (scripts/test.sh does)"
done

mkdir -p "$out"
work=$(mktemp -d)
session="wardfeed-newsboat-$$"
cleanup() {
    tmux kill-session -t "$session" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# newsboat in a home of its own: no user configuration, no other feeds.
mkdir -p "$work/home"
export HOME=$work/home
unset XDG_CONFIG_HOME XDG_DATA_HOME XDG_CACHE_HOME
printf 'show-read-feeds yes\nauto-reload no\nconfirm-exit no\n' >"$work/config"
: >"$work/urls"
newsboat=(newsboat -C "$work/config" -u "$work/urls" -c "$work/cache.db")

curl -fsS --max-time 30 "$base/residents.opml" -o "$out/residents.opml" ||
    fail "$base/residents.opml: could not fetch the resident's OPML"
"${newsboat[@]}" -i "$out/residents.opml" >"$out/import.log" 2>&1 ||
    fail "newsboat could not import the OPML (see $out/import.log)"
cp "$work/urls" "$out/urls"
feeds=$(grep -c '^http' "$work/urls" || true)
[[ $feeds -gt 0 ]] || fail "newsboat imported no feed from the OPML"

tmux new-session -d -s "$session" -x 200 -y 60 \
    "env HOME=$HOME LANG=C.UTF-8 LC_ALL=C.UTF-8 ${newsboat[*]} -r"

capture() {
    tmux capture-pane -p -t "$session"
}

# Reloaded when every feed line shows its counts and the status line no longer says so.
for _ in $(seq 1 120); do
    screen=$(capture)
    listed=$(grep -cE '^ +[0-9]+ +N? +\([0-9]+/[0-9]+\) ' <<<"$screen" || true)
    if [[ $listed -eq $feeds ]] && ! grep -qiE 'loading|reloading|updating' <<<"$screen"; then
        break
    fi
    sleep 0.5
done
capture >"$out/feeds.txt"
listed=$(grep -cE '^ +[0-9]+ +N? +\([0-9]+/[0-9]+\) ' "$out/feeds.txt" || true)
[[ $listed -eq $feeds ]] ||
    fail "newsboat lists $listed feeds, the OPML has $feeds (screen in $out/feeds.txt)"

# The first feed (under the cursor) is the combined one: open it, capture its articles.
tmux send-keys -t "$session" Enter
for _ in $(seq 1 20); do
    sleep 0.5
    capture >"$out/combined.txt"
    grep -q "Articles in feed" "$out/combined.txt" && break
done
grep -q "Articles in feed" "$out/combined.txt" ||
    fail "newsboat did not open the combined feed (screen in $out/combined.txt)"
tmux send-keys -t "$session" q
sleep 0.5
tmux send-keys -t "$session" q
echo "newsboat_residents: ok: $feeds feeds, screens in $out"
