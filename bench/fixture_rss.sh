#!/usr/bin/env bash
# Resident memory of the daemon over the bundled fixture world after it served every feed.
#
# Usage: bench/fixture_rss.sh            (WARDFEED_BIN=path to use a built binary)
# Runs `wardfeed demo` (the fixture world, offline, on loopback), waits until no source is
# "pending" in /status.json, then GETs every feed the OPML lists in RSS, Atom and JSON (each
# once as a reader asking for gzip, once asking for brotli), the combined and incident feeds,
# both OPMLs and the dashboard, and prints the daemon's VmRSS and VmHWM (issue 14's target:
# VmRSS ≤ 40 MB after serving every feed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
port=${PORT:-18493}
if [ -n "${WARDFEED_BIN:-}" ]; then
  bin=$WARDFEED_BIN
else
  cargo build --release --quiet --bin wardfeed
  bin=target/release/wardfeed
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/wardfeed-fixture-rss.XXXXXX")
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
RUST_LOG=warn "$bin" demo --listen "127.0.0.1:$port" --store "$work/store" > "$work/demo.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
  if status=$(curl -s "$base/status.json") && grep -q '"sources"' <<<"$status" \
    && ! grep -q '"status":"pending"' <<<"$status"; then
    break
  fi
  sleep 1
done
kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }
echo "after the first cycle: VmRSS $(kb VmRSS) kB, VmHWM $(kb VmHWM) kB"
feeds=$(curl -s "$base/opml" | grep -o 'xmlUrl="[^"]*"' | sed 's/^xmlUrl="//; s/"$//; s/\.rss$//; s/\.atom$//' | sort -u)
count=0
for feed in $feeds "$base/feeds/all"; do
  for ext in rss atom json; do
    for coding in gzip br; do
      curl -s -o /dev/null -H "Accept-Encoding: $coding" "$feed.$ext" && count=$((count + 1))
    done
  done
done
for path in / /opml /residents.opml /feeds/incidents.atom /status.json /metrics; do
  curl -s -o /dev/null -H 'Accept-Encoding: gzip' "$base$path" && count=$((count + 1))
done
echo "served $count documents"
echo "after serving every feed: VmRSS $(kb VmRSS) kB ($(( $(kb VmRSS) / 1024 )) MiB), VmHWM $(kb VmHWM) kB"
# CPU the daemon used so far (user + system, in clock ticks of 1/100 s) and its minor page faults:
# what purging freed memory at once costs (BENCHMARKS.md, "Fixture world").
read -r utime stime minflt < <(awk '{print $14, $15, $10}' "/proc/$pid/stat")
echo "CPU: user $utime + system $stime ticks, minor page faults $minflt"
if [ -n "${SMAPS:-}" ]; then cat "/proc/$pid/smaps_rollup"; awk '/^[0-9a-f]+-[0-9a-f]+ /{name=$6} /^Rss:/{rss[name]+=$2} END{for (n in rss) if (rss[n] > 1000) print rss[n], "kB", n}' "/proc/$pid/smaps" | sort -rn; fi
