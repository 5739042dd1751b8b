#!/usr/bin/env bash
# Builds every fuzz target in fuzz/ and runs each for SECONDS (default 10) with libFuzzer,
# starting from its committed seeds (fuzz/seeds/TARGET) copied to a scratch corpus, so a run
# never changes the repository. Prints each target's executions and coverage; exits non-zero
# if any target crashes (a panic or a failed property), naming the input that did it.
#
#   scripts/fuzz.sh [SECONDS]            every target, SECONDS each
#   FUZZ_TARGETS="parse_date" scripts/fuzz.sh 60
#
# Works on stable Rust: cargo-fuzz's default AddressSanitizer needs nightly's -Zsanitizer, so
# targets are built with `--sanitizer none` (libFuzzer's coverage instrumentation uses only
# stable flags). wardfeed is safe Rust, so what the fuzzer looks for is panics and failed
# assertions, which need no sanitizer. FUZZ_SANITIZER=address turns ASan back on through
# RUSTC_BOOTSTRAP=1, which makes stable rustc accept nightly flags: an escape hatch, for
# digging into one crash by hand, never for CI.
#
# Environment: FUZZ_TARGETS (space-separated; default all), FUZZ_SANITIZER (default none),
# FUZZ_PROFILE (release, the default, or dev: built in about 3 minutes instead of 9),
# FUZZ_TARGET_DIR (cargo's target dir for the instrumented build; default fuzz/target: the
# first build takes about 9 minutes on 2 cores, later ones seconds), FUZZ_KEEP_CORPUS=DIR
# (keep the grown corpus there instead of discarding it), FUZZ_LOG_DIR=DIR (keep libFuzzer's
# full output there).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-10}
sanitizer=${FUZZ_SANITIZER:-none}
cargo_fuzz_version=0.13.2

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz $cargo_fuzz_version (crates.io)"
  cargo install --locked --version "$cargo_fuzz_version" cargo-fuzz
fi

build_args=(--sanitizer "$sanitizer" --fuzz-dir "$root/fuzz")
if [ "${FUZZ_PROFILE:-release}" = dev ]; then
  # A third of the build time, a slower fuzzer: right for CI's few seconds a target.
  build_args+=(--dev)
fi
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
  build_args+=(--target-dir "$FUZZ_TARGET_DIR")
fi
if [ "$sanitizer" != none ]; then
  echo "fuzz: sanitizer $sanitizer needs nightly flags; setting RUSTC_BOOTSTRAP=1"
  export RUSTC_BOOTSTRAP=1
fi

targets=${FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir "$root/fuzz")}

start=$(date +%s)
echo "fuzz: building ($(echo $targets | wc -w) targets, sanitizer $sanitizer)"
cargo fuzz build "${build_args[@]}"
echo "fuzz: built in $(($(date +%s) - start)) s"

work=$(mktemp -d "${TMPDIR:-/tmp}/wardfeed-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
logs=${FUZZ_LOG_DIR:-$work}
mkdir -p "$logs"

failed=()
for target in $targets; do
  corpus="$work/corpus/$target"
  mkdir -p "$corpus" "$root/fuzz/artifacts/$target"
  cp "$root/fuzz/seeds/$target/"* "$corpus/"
  log="$logs/$target.log"
  echo "fuzz: $target for ${seconds}s from $(ls "$corpus" | wc -l) seeds"
  status=0
  # -timeout: one input taking 30 s is a hang worth reporting, even on a loaded machine.
  cargo fuzz run "${build_args[@]}" "$target" "$corpus" -- \
    -max_total_time="$seconds" -timeout=30 -print_final_stats=1 \
    -artifact_prefix="$root/fuzz/artifacts/$target/" >"$log" 2>&1 || status=$?
  # The last status line (`#N DONE cov: … ft: … corp: … exec/s: …`) and the final counters.
  grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 | sed "s/^/  /" || true
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" \
    | sed "s/^/  /" || true
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $target FAILED (exit $status); the end of its log:"
    tail -n 40 "$log" | sed "s/^/  | /"
    grep -Eo "(Test unit written to|artifact_prefix.*|crash-|timeout-|oom-)[^ ]*" "$log" | sed "s/^/  artifact: /" || true
    failed+=("$target")
  fi
  if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
    mkdir -p "$FUZZ_KEEP_CORPUS/$target"
    cp "$corpus/"* "$FUZZ_KEEP_CORPUS/$target/"
  fi
done

echo "fuzz: $(echo $targets | wc -w) targets in $(($(date +%s) - start)) s"
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: crashed: ${failed[*]} (reproduce: cargo fuzz run --sanitizer none TARGET ARTIFACT)"
  exit 1
fi
