#!/usr/bin/env bash
# The one test command (README, "Test"): installs what the tests need when it is missing, then
# runs every test and a short fuzz run. On a fresh Debian machine with only the Rust toolchain:
#
#   scripts/test.sh
#
# What the tests need beyond Rust, and why:
#   xmllint (libxml2-utils), newsboat, curl, Python with feedparser and jsonschema: the feed
#     judges (tests/judges); newsboat and tmux: the resident's subscription test;
#   chromium: the dashboard and feed-page screenshots; promtool (prometheus): /metrics;
#   systemd-analyze (systemd): the unit check; nginx (nginx-light): the exported static tree;
#   a C++ compiler (g++) and cargo-fuzz: the fuzz run.
# Missing Debian packages are installed with apt-get when running as root or with sudo that
# needs no password; otherwise the script stops, naming them. When no Python on the machine has
# feedparser and jsonschema and apt cannot add them, they are installed with pip into a venv at
# target/judges-venv, where the tests look for it (tests/common/judges.rs).
#
# Environment: FUZZ_SECONDS (seconds per fuzz target, default 5; 0 skips the fuzz run),
# WARDFEED_TEST_NO_INSTALL=1 (check only, install nothing). Arguments are passed to
# `cargo test --all-targets` (e.g. `scripts/test.sh -- --test-threads 2`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { echo "test.sh: $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

# The interpreters the judges try, in their order (tests/common/judges.rs).
judge_python() {
  local python
  for python in python3 /usr/bin/python3 /usr/local/bin/python3 "$root/target/judges-venv/bin/python3"; do
    if have "$python" && "$python" -c 'import feedparser, jsonschema' 2>/dev/null; then
      echo "$python"
      return 0
    fi
  done
  return 1
}

packages=()
want() { have "$1" || packages+=("$2"); }
want xmllint libxml2-utils
want newsboat newsboat
want curl curl
want tmux tmux
want "${CHROMIUM:-chromium}" chromium
want promtool prometheus
want systemd-analyze systemd
want c++ g++
# tests/export.rs serves the exported tree with nginx (gzip_static); not always on PATH (sbin).
[ -x /usr/sbin/nginx ] || packages+=(nginx-light)
if ! judge_python >/dev/null; then
  packages+=(python3 python3-feedparser python3-jsonschema)
fi

if [ ${#packages[@]} -gt 0 ]; then
  sudo=()
  if [ "${WARDFEED_TEST_NO_INSTALL:-0}" = 1 ] || ! have apt-get; then
    sudo=(none)
  elif [ "$(id -u)" -ne 0 ]; then
    if have sudo && sudo -n true 2>/dev/null; then sudo=(sudo); else sudo=(none); fi
  fi
  if [ "${sudo[*]}" = none ]; then
    say "missing Debian packages: ${packages[*]}"
    say "install them (apt-get install ${packages[*]}) or run this as root or with sudo"
    # Python alone can still be had without root, below.
    python_only=1
    for package in "${packages[@]}"; do
      case $package in python3 | python3-feedparser | python3-jsonschema) ;; *) python_only=0 ;; esac
    done
    [ $python_only = 1 ] || exit 1
  else
    say "installing ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends ca-certificates "${packages[@]}" >/dev/null
  fi
fi

if ! python=$(judge_python); then
  say "no Python with feedparser and jsonschema: installing them into target/judges-venv (PyPI)"
  python3 -m venv "$root/target/judges-venv" ||
    { say "python3 -m venv failed: install python3-venv (Debian) and run again"; exit 1; }
  "$root/target/judges-venv/bin/pip" install --quiet feedparser jsonschema
  python=$(judge_python) || { say "the venv still cannot import feedparser and jsonschema"; exit 1; }
fi
say "feed judges run with $python"

cargo test --all-targets "$@"

# A short fuzz run: every target for a few seconds from its seed corpus, built in the dev
# profile to keep it quick (scripts/fuzz.sh installs cargo-fuzz when missing). Longer runs:
# scripts/fuzz.sh SECONDS (TESTING.md, "Fuzzing").
if [ "${FUZZ_SECONDS:-5}" != 0 ]; then
  FUZZ_PROFILE=dev scripts/fuzz.sh "${FUZZ_SECONDS:-5}"
else
  # Not run, but still compiled: the fuzz crate is outside the workspace, so nothing else
  # notices when a library change breaks a target (CI once failed on exactly that).
  say "fuzz run skipped (FUZZ_SECONDS=0); checking that the targets compile"
  cargo check --quiet --manifest-path fuzz/Cargo.toml --bins
fi
