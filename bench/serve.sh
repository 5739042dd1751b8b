#!/usr/bin/env bash
# Serving benchmark: a cached 100-item feed from wardfeed, side by side with nginx serving the
# very same bytes as a static file, in the same run, measured by wrk on loopback.
#
# Usage: bench/serve.sh [SECONDS] [CONNECTIONS]     (defaults 15 s, 64 connections;
#        WARDFEED_BIN=path to use a built binary)
# Needs: wrk and nginx (Debian: apt-get install -y wrk nginx-light); installs them if it can.
# Prints a table (requests/s, p99) for identity, gzip and 304 requests to both servers, and
# writes the raw wrk output under $WORK (printed at the end).
#
# Both servers get the same machine: wardfeed's runtime uses every core, nginx runs one worker
# per core, wrk runs 2 threads beside them. Only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration=${1:-15}
connections=${2:-64}
wardfeed_port=18481
nginx_port=18482

need() {
  command -v "$1" >/dev/null && return
  if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
  command -v "$1" >/dev/null || { echo "serve.sh: needs $1 (apt-get install -y $2)" >&2; exit 2; }
}
need wrk wrk
need nginx nginx-light
nginx_bin=$(command -v nginx)

if [ -n "${WARDFEED_BIN:-}" ]; then
  bin=$WARDFEED_BIN
else
  cargo build --release --quiet
  bin=target/release/wardfeed
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/wardfeed-serve-bench.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
}
trap cleanup EXIT

# wardfeed over the bundled fixture world, with the default feed size: the combined feed then
# holds exactly 100 stories.
sed 's/^feed_limit = .*/feed_limit = 100/' config/fixtures.toml > "$work/bench.toml"
RUST_LOG=warn "$bin" demo --config "$work/bench.toml" \
  --listen "127.0.0.1:$wardfeed_port" --store "$work/store" > "$work/wardfeed.log" 2>&1 &
pids+=($!)

feed="http://127.0.0.1:$wardfeed_port/feeds/all.rss"
feed_etag() { curl -sI "$feed" 2>/dev/null | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}'; }
# Ready when every source has finished its first refresh (none is "pending" in /status.json;
# bode's Crawl-delay and retries make it last) and the combined feed's ETag has held for 3 s.
status="http://127.0.0.1:$wardfeed_port/status.json"
first_runs_done() { curl -s "$status" | grep -q '"sources"' && ! curl -s "$status" | grep -q '"status":"pending"'; }
stable=0 previous=""
for _ in $(seq 1 240); do
  current=$(feed_etag || true)
  if [ -n "$current" ] && [ "$current" = "$previous" ] && first_runs_done; then
    stable=$((stable + 1))
  else
    stable=0
  fi
  previous=$current
  [ "$stable" -ge 6 ] && break
  sleep 0.5
done
items=$(curl -s "$feed" | grep -o '<item>' | wc -l || true)
[ "$items" -eq 100 ] || { echo "serve.sh: the combined feed has $items items, not 100" >&2; exit 1; }

mkdir -p "$work/www"
curl -s "$feed" -o "$work/www/all.rss"
curl -s -H 'Accept-Encoding: gzip' "$feed" -o "$work/www/all.rss.gz"
etag=$(feed_etag)
# nginx's workers run unprivileged: let them read the files.
chmod a+rX "$work" "$work/www" "$work/www"/*

cat > "$work/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { application/rss+xml rss; }
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/www;
    gzip_static on;
    etag on;
  }
}
EOF
"$nginx_bin" -c "$work/nginx.conf"
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$nginx_port/" && break; sleep 0.1; done
nginx_feed="http://127.0.0.1:$nginx_port/all.rss"
nginx_etag=$(curl -sI "$nginx_feed" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
cmp <(curl -s "$nginx_feed") "$work/www/all.rss" || { echo "serve.sh: nginx serves other bytes" >&2; exit 1; }

echo "feed: 100 items, $(stat -c %s "$work/www/all.rss") bytes identity, $(stat -c %s "$work/www/all.rss.gz") bytes gzip"
printf '%-9s %-8s %14s %12s\n' server request requests/s p99
run() { # server name url header...
  local server=$1 kind=$2 url=$3
  shift 3
  local args=()
  for h in "$@"; do args+=(-H "$h"); done
  wrk -t2 -c"$connections" -d"${duration}s" --latency "${args[@]}" "$url" > "$work/wrk-$server-$kind.txt"
  local rps p99
  rps=$(awk '/^Requests\/sec:/{print $2}' "$work/wrk-$server-$kind.txt")
  p99=$(awk '$1=="99%"{print $2}' "$work/wrk-$server-$kind.txt")
  printf '%-9s %-8s %14s %12s\n' "$server" "$kind" "$rps" "$p99"
}
# A 304 run that reads bodies measured something else.
check_304() {
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $2" "$1")
  [ "$got" = 304 ] || { echo "serve.sh: $1 answers $got, not 304, to its own ETag" >&2; exit 1; }
}
check_304 "$feed" "$etag"
check_304 "$nginx_feed" "$nginx_etag"
for kind in identity gzip 304; do
  case $kind in
    identity) run wardfeed "$kind" "$feed"; run nginx "$kind" "$nginx_feed" ;;
    gzip) run wardfeed "$kind" "$feed" 'Accept-Encoding: gzip'; run nginx "$kind" "$nginx_feed" 'Accept-Encoding: gzip' ;;
    304) run wardfeed "$kind" "$feed" "If-None-Match: $etag"; run nginx "$kind" "$nginx_feed" "If-None-Match: $nginx_etag" ;;
  esac
done
# The bytes must not have changed under the runs (a refresh would make the 304 run a 200 run).
check_304 "$feed" "$etag"
echo "raw wrk output: $work"
