#!/usr/bin/env bash
# Writes tests/data/identity/store-6c1744e: the store wardfeed 6c1744e (the last version with
# the identity rule before issue 10) writes from tests/data/identity/world, for
# tests/identity.rs to check that the current rule reads it back without duplicates.
#
#   scripts/identity-store.sh                 # builds 6c1744e in a scratch worktree first
#   OLD_WARDFEED=/path/to/wardfeed scripts/identity-store.sh
#
# Needs git (the commit is in this repository's history) and python3 (to serve the world on
# loopback). The store is committed; run this again only to remake it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=$root/tests/data/identity
work=$(mktemp -d "${TMPDIR:-/tmp}/wardfeed-identity.XXXXXX")
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  git -C "$root" worktree remove --force "$work/old" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

old=${OLD_WARDFEED:-}
if [ -z "$old" ]; then
  git -C "$root" worktree add --detach "$work/old" 6c1744e
  cargo build --manifest-path "$work/old/Cargo.toml" --bin wardfeed --target-dir "$work/target"
  old=$work/target/debug/wardfeed
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$data/world" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/feeds/plain.rss')" 2>/dev/null && break
  sleep 0.1
done

rm -rf "$data/store-6c1744e"
IDENTITY_BASE=http://127.0.0.1:$port "$old" scrape --config "$data/config.toml" --once \
  --store "$data/store-6c1744e"
IDENTITY_BASE=http://127.0.0.1:$port "$old" items --config "$data/config.toml" \
  --store "$data/store-6c1744e" --json > "$work/items.json"
python3 -c "import json,sys; items=json.load(open('$work/items.json')); print(len(items), 'items stored')"
