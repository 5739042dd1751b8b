#!/usr/bin/env bash
# Scale benchmark: N synthetic ward sources on loopback (nginx), one release daemon over them.
#
# Usage: bench/scale.sh [N] [HOSTS]          (defaults 1000 sources on 1 host)
# Environment: WARDFEED_BIN=path  use this binary instead of building target/release/wardfeed
#              MIN_HOST_INTERVAL_MS (default 0: loopback; real portals get 1000)
#              KEEP=1             keep the work directory (store, logs, config)
#              STORE_CACHE_MB     the store's cache_mb (default: the daemon's)
#              MAX_REFRESHES      [defaults] max_refreshes (default: the daemon's, 64)
#              PER_SOURCE_METRICS=true  [server] per_source_metrics (default: the daemon's, off)
# Needs: nginx (with the sub module: Debian nginx-light has it), curl, python3.
#
# Every source is a ward on the `portal` template with one category: a 25 KB listing of 20
# items (titles and links carry the source's id, so no two sources share an item or a story)
# and 20 article pages of ~11 KB, plus robots.txt, all served by nginx from one set of files
# (sub_filter writes the source id in). The sources are spread over HOSTS loopback addresses
# (127.0.1.1, 127.0.1.2, …; every 127/8 address is loopback on Linux).
#
# Reports: the first cycle's wall time (start to no source "pending" in /metrics), the
# daemon's CPU time (utime+stime from /proc) and peak RSS (VmHWM) over the cycle, its VmRSS
# after, the store's size on disk, then for each endpoint the time (curl time_total) and size
# of the first request after the cycle (cold) and the best of five after it (warm), asking for
# gzip as feed readers do.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sources=${1:-1000}
hosts=${2:-1}
interval=${MIN_HOST_INTERVAL_MS:-0}
for tool in nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "scale.sh: needs $tool" >&2; exit 2; }
done
# Free ports, asked of the kernel (PORT / DAEMON_PORT override): two runs at once do not collide.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=${PORT:-$(free_port)}
daemon_port=${DAEMON_PORT:-$(free_port)}
while [ "$daemon_port" = "$port" ]; do daemon_port=$(free_port); done

if [ -n "${WARDFEED_BIN:-}" ]; then
  bin=$WARDFEED_BIN
else
  cargo build --release --quiet --bin wardfeed
  bin=target/release/wardfeed
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/wardfeed-scale.XXXXXX")
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  if [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "kept: $work"; fi
}
trap cleanup EXIT

# The site: one listing, twenty articles, robots.txt; SRCID is replaced per source by nginx.
python3 - "$work/www" <<'EOF'
import os, sys, datetime
www = sys.argv[1]
os.makedirs(os.path.join(www, "a"), exist_ok=True)
words = ("Ủy ban nhân dân phường tổ chức hội nghị triển khai nhiệm vụ phát triển kinh tế xã hội "
         "bảo đảm an ninh trật tự an toàn giao thông vệ sinh môi trường chỉnh trang đô thị chăm lo "
         "đời sống người dân gia đình chính sách tiếp công dân cải cách hành chính chuyển đổi số").split()
def text(seed, n):
    return " ".join(words[(seed * 7 + i * 13) % len(words)] for i in range(n))
now = datetime.datetime.now()
head = ('<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8"><title>{t}</title>'
        '<link rel="stylesheet" href="/static/portal.css"></head><body class="portal">'
        '<header class="site-header"><div class="site-name">CỔNG THÔNG TIN ĐIỆN TỬ PHƯỜNG SRCID</div></header>'
        '<nav class="main-menu"><ul>' + "".join(f'<li><a href="/menu/{i}.html">{text(i, 3)}</a></li>' for i in range(30)) +
        '</ul></nav>')
items = []
for k in range(1, 21):
    when = now - datetime.timedelta(hours=7 * k)
    items.append(
        f'<div class="news-item"><a class="news-thumb" href="a/{k}.html"><img data-src="/uploads/{k}.jpg" src="data:image/gif;base64,R0lGOD"></a>'
        f'<h3 class="news-title"><a href="a/{k}.html">Tin SRCID số {k}: {text(k, 12)}</a></h3>'
        f'<div class="news-meta"><span class="cat">tin tức</span> Ngày đăng {when:%d/%m/%Y | %H:%M} | Lượt xem: {100 + k}</div>'
        f'<p class="news-sapo">{text(k + 3, 45)}</p></div>')
sidebar = '<aside class="sidebar"><ul class="most-viewed">' + "".join(
    f'<li><a href="/xem-nhieu/{i}.html">{text(i + 50, 14)}</a></li>' for i in range(55)) + "</ul></aside>"
listing = (head.format(t="Tin tức - SRCID") + '<div class="news-list">' + "".join(items) + '</div>'
           + '<ul class="pagination"><li class="active"><span>1</span></li></ul>' + sidebar
           + '<footer>' + text(99, 120) + '</footer></body></html>')
open(os.path.join(www, "list.html"), "w").write(listing)
for k in range(1, 21):
    when = now - datetime.timedelta(hours=7 * k)
    body = "".join(f"<p>{text(k * 31 + p, 70)}</p>" for p in range(8))
    page = (head.format(t=f"Tin SRCID số {k}") + '<div class="article-detail">'
            f'<h1 class="article-title">Tin SRCID số {k}: {text(k, 12)}</h1>'
            f'<div class="article-meta">Ngày đăng {when:%d/%m/%Y | %H:%M}</div>'
            f'<div class="article-body">{body}<img data-src="/uploads/{k}-body.jpg" src="/x.gif"></div></div>'
            + sidebar + '</body></html>')
    open(os.path.join(www, "a", f"{k}.html"), "w").write(page)
open(os.path.join(www, "robots.txt"), "w").write("User-agent: *\nDisallow: /admin/\n")
EOF
chmod -R a+rX "$work"

listens=""
for h in $(seq 1 "$hosts"); do listens+="    listen 127.0.$(( h / 250 + 1 )).$(( h % 250 + 1 )):$port;"$'\n'; done
host_of() { local h=$(( $1 % hosts + 1 )); echo "127.0.$(( h / 250 + 1 )).$(( h % 250 + 1 ))"; }
cat > "$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  types { text/plain txt; }
  default_type text/html;
  server {
$listens
    root $work/www;
    location ~ ^/(?<src>s[0-9]+)/(?<rest>.*)\$ {
      try_files /\$rest =404;
      sub_filter_once off;
      sub_filter 'SRCID' '\$src';
    }
  }
}
EOF
nginx -c "$work/nginx.conf"

{
  cat <<EOF
[defaults]
schedule = "0 0 */6 * * *"
jitter_secs = 0
min_host_interval_ms = $interval
retries = 0
${MAX_REFRESHES:+max_refreshes = $MAX_REFRESHES}

[store]
path = "$work/store"
${STORE_CACHE_MB:+cache_mb = $STORE_CACHE_MB}

[server]
listen = "127.0.0.1:$daemon_port"
title = "scale bench"
${PER_SOURCE_METRICS:+per_source_metrics = $PER_SOURCE_METRICS}

[templates.portal.listing]
list = "div.news-list"
item = "div.news-item"
title = "h3.news-title > a"
link = { selector = "h3.news-title > a", attr = "href" }
date = { selector = "div.news-meta", regex = 'Ngày đăng\s*(\d{1,2}/\d{1,2}/\d{4}\s*\|\s*\d{1,2}:\d{2})' }
views = { selector = "div.news-meta", regex = 'Lượt xem:\s*([\d.,]+)' }
summary = "p.news-sapo"
image = { selector = "a.news-thumb img", attr = ["data-src", "src"] }

[templates.portal.article]
body = "div.article-detail div.article-body"
title = "div.article-detail h1.article-title"
date = "div.article-detail div.article-meta"
EOF
  for i in $(seq 1 "$sources"); do
    printf '\n[sources.s%d]\nname = "Phường S%d"\ngroup = "g%d"\nbase = "http://%s:%d/s%d"\ntemplate = "portal"\n[[sources.s%d.categories]]\nlabel = "Tin tức"\nlisting = "/list.html"\n' \
      "$i" "$i" $(( i % 50 )) "$(host_of "$i")" "$port" "$i" "$i"
  done
} > "$work/config.toml"
curl -sf -o /dev/null "http://$(host_of 1):$port/s1/list.html" || { echo "scale.sh: nginx does not answer" >&2; exit 1; }

base="http://127.0.0.1:$daemon_port"
clk=$(getconf CLK_TCK)
cpu_seconds() { awk -v t="$clk" '{printf "%.1f", ($14 + $15) / t}' "/proc/$pid/stat"; }
status_kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }

started=$(date +%s.%N)
RUST_LOG=warn "$bin" run --config "$work/config.toml" > "$work/daemon.log" 2>&1 &
pid=$!
# The end of the cycle is read off /metrics (wardfeed_sources{status}: sources per status, every
# source counted from the start), as a monitoring system would: polling /status.json instead
# rebuilt that 2.8 MB document every second of the cycle (each refresh changes it), which was
# CPU and memory of the bench's own making.
for _ in $(seq 1 3600); do
  if status=$(curl -s --max-time 30 "$base/metrics" | grep '^wardfeed_sources{') \
    && [ -n "$status" ] && ! grep -Eq 'status="pending"} [1-9]' <<<"$status"; then
    break
  fi
  kill -0 "$pid" 2>/dev/null || { echo "scale.sh: the daemon died:" >&2; tail "$work/daemon.log" >&2; exit 1; }
  sleep 1
done
cycle=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
cpu=$(cpu_seconds)
failing=$(sed -E 's/^wardfeed_sources\{status="([a-z]+)"\} ([0-9]+)$/\1 \2,/' <<<"$status" | tr '\n' ' ')
echo "sources: $sources on $hosts host(s), min_host_interval_ms $interval, binary $bin"
echo "first cycle: ${cycle} s wall, ${cpu} s CPU; source states: $failing"
echo "peak RSS (VmHWM) $(( $(status_kb VmHWM) / 1024 )) MiB, VmRSS $(( $(status_kb VmRSS) / 1024 )) MiB, threads $(status_kb Threads)"
echo "store: $(du -sm "$work/store" | cut -f1) MiB on disk"

printf '%-22s %10s %10s %12s\n' endpoint cold_ms warm_ms gzip_bytes
timed() { curl -s -o /dev/null -H 'Accept-Encoding: gzip' -w '%{time_total} %{size_download} %{http_code}\n' "$base$1"; }
for path in / /opml /status.json /metrics /healthz /feeds/s1.atom /feeds/all.atom; do
  read -r cold size code < <(timed "$path")
  best=""
  for _ in 1 2 3 4 5; do
    read -r t _ _ < <(timed "$path")
    best=$(awk -v a="$t" -v b="${best:-999}" 'BEGIN {print (a < b ? a : b)}')
  done
  [ "$code" = 200 ] || echo "  ($path answered $code)"
  printf '%-22s %10.1f %10.1f %12s\n' "$path" "$(awk -v t="$cold" 'BEGIN {print t * 1000}')" \
    "$(awk -v t="$best" 'BEGIN {print t * 1000}')" "$size"
done
echo "after serving: VmRSS $(( $(status_kb VmRSS) / 1024 )) MiB, VmHWM $(( $(status_kb VmHWM) / 1024 )) MiB, CPU $(cpu_seconds) s"
