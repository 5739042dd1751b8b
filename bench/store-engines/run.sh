#!/usr/bin/env bash
# One measured round: ./run.sh NAME N [spike flags...]   (e.g. ./run.sh redb-100k 100000)
# ingest 0..N into a fresh store, open it cleanly (warm, then cold page cache) with reads,
# then ingest N..N+200000 and SIGKILL it after KILL_AFTER seconds, then open (repair) cold and warm.
# KILL_FLAGS: flags for the killed ingest only (e.g. --quick-repair).
set -u
name=$1; n=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/target/release/spike-store
dir=${SCRATCH:-/tmp/store-engines-scratch}/$name
log=$here/results/$name.log
kill_after=${KILL_AFTER:-30}
rm -rf "$dir"; mkdir -p "$dir"
exec > >(tee "$log") 2>&1
echo "== $name: N=$n flags: $* ; kill flags: ${KILL_FLAGS:-}; $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "-- ingest 0..$n"
nice -n 19 $bin ingest "$dir" 0 "$n" "$@" || exit 1
echo "-- du: $(du -sk "$dir" | cut -f1) KiB allocated on disk"
echo "-- open after clean close (page cache warm), reads"
nice -n 19 $bin open "$dir" --reads 200000 "$@"
sync; echo 3 > /proc/sys/vm/drop_caches
echo "-- open after clean close (page cache dropped), reads"
nice -n 19 $bin open "$dir" --reads 200000 "$@"
echo "-- ingest $n..$((n+200000)) killed with SIGKILL after ${kill_after}s"
nice -n 19 $bin ingest "$dir" "$n" $((n+200000)) "$@" ${KILL_FLAGS:-} &
pid=$!
sleep "$kill_after"
kill -9 $pid; wait $pid 2>/dev/null; echo "killed (status $?)"
sync; echo 3 > /proc/sys/vm/drop_caches
echo "-- open after SIGKILL (page cache dropped)"
nice -n 19 $bin open "$dir" "$@"
echo "-- open again (clean close after the repair, warm)"
nice -n 19 $bin open "$dir" "$@"
echo "-- du after: $(du -sk "$dir" | cut -f1) KiB allocated"
echo "== done $(date -u +%FT%TZ)"
