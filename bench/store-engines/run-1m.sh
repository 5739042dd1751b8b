#!/usr/bin/env bash
# The 1 M rounds: redb (default), then quick-repair's kill test on that store, then fjall.
set -u
cd "$(dirname "$0")"
bin=target/release/spike-store
KILL_AFTER=30 ./run.sh redb-1m 1000000
{
  dir=${SCRATCH:-/tmp/store-engines-scratch}/redb-1m
  n=$(nice -n 19 $bin open $dir | sed -n 's/.* \([0-9]*\) items.*/\1/p')
  echo "== redb-1m quick-repair kill test: store holds $n items; ingest with --quick-repair, SIGKILL after 30 s"
  from=$(( (n / 2000 + 1) * 2000 ))  # next whole wave (items between are simply not written)
  nice -n 19 $bin ingest $dir $from $((from + 200000)) --quick-repair &
  pid=$!; sleep 30; kill -9 $pid; wait $pid 2>/dev/null; echo "killed"
  sync; echo 3 > /proc/sys/vm/drop_caches
  echo "-- open after SIGKILL of a quick-repair ingest (page cache dropped)"
  nice -n 19 $bin open $dir
  echo "-- the same, killed again without quick-repair, for comparison at this size"
  n=$(nice -n 19 $bin open $dir | sed -n 's/.* \([0-9]*\) items.*/\1/p')
  from=$(( (n / 2000 + 1) * 2000 ))
  nice -n 19 $bin ingest $dir $from $((from + 200000)) &
  pid=$!; sleep 30; kill -9 $pid; wait $pid 2>/dev/null; echo "killed"
  sync; echo 3 > /proc/sys/vm/drop_caches
  nice -n 19 $bin open $dir
  echo "-- warm repeat is not possible (repair done); compaction of the repaired store:"
  nice -n 19 $bin open $dir --stats | tail -12
} 2>&1 | tee results/redb-1m-quick-repair.log
KILL_AFTER=30 ./run.sh fjall-1m 1000000 --fjall
