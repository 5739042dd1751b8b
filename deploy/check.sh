#!/usr/bin/env bash
# deploy/check.sh: checks the deployment files against a real wardfeed binary.
#
# Usage: deploy/check.sh [WARDFEED_BINARY]
#
#   WARDFEED_BINARY  the binary to check with; default: build it with `cargo build --release`
#                    (CARGO_TARGET_DIR and cargo's config are honoured).
#
# What it checks, failing on the first problem:
#   1. `systemd-analyze verify` passes on deploy/wardfeed.service, unmodified, installed into
#      a throwaway root beside the binary at /usr/bin/wardfeed (nothing is written outside a
#      temporary directory).
#   2. `systemd-analyze security --offline=true` rates its exposure at most MAX_EXPOSURE (2.0).
#   3. `wardfeed check --config deploy/config.toml` accepts the packaged production config.
#
# Needs systemd-analyze (Debian package `systemd`; no running systemd needed) and coreutils.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly UNIT=deploy/wardfeed.service
readonly CONFIG=deploy/config.toml
readonly MAX_EXPOSURE=2.0

fail() {
  echo "check.sh: $*" >&2
  exit 1
}

command -v systemd-analyze >/dev/null ||
  fail "systemd-analyze not found: install Debian's systemd package"

if [ $# -ge 1 ]; then
  binary=$1
else
  cargo build --release --quiet --bin wardfeed
  target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  binary=$target_dir/release/wardfeed
fi
[ -x "$binary" ] || fail "$binary: not an executable; build it or pass its path"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

echo "== systemd-analyze verify $UNIT"
# A throwaway root laid out as the package installs it: verify resolves ExecStart= and
# ExecReload= inside it, and the stock units (sysinit.target, network-online.target, …) come
# from this machine's systemd.
mkdir -p "$root/usr/bin" "$root/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/system"
ln -s usr/bin "$root/bin"
cp "$binary" "$root/usr/bin/wardfeed"
cp "$(type -P kill)" "$root/usr/bin/kill"
cp "$UNIT" "$root/usr/lib/systemd/system/wardfeed.service"
# verify prints only problems, and exits non-zero on errors but not on every warning.
verify_output=$(systemd-analyze verify --root="$root" --man=no wardfeed.service 2>&1) ||
  fail "systemd-analyze verify failed:"$'\n'"$verify_output"
[ -z "$verify_output" ] || fail "systemd-analyze verify warned:"$'\n'"$verify_output"
echo "clean"

echo "== systemd-analyze security --offline=true $UNIT"
security_output=$(systemd-analyze security --offline=true --no-pager "$UNIT" 2>&1) ||
  fail "systemd-analyze security failed:"$'\n'"$security_output"
# The verdict line: "→ Overall exposure level for wardfeed.service: 1.0 OK 🙂".
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p' \
  <<<"$security_output")
[ -n "$exposure" ] ||
  fail "no exposure level in systemd-analyze security output:"$'\n'"$security_output"
# Lines marked ✗ are the settings that still cost exposure.
grep '✗' <<<"$security_output" || true
echo "exposure $exposure (at most $MAX_EXPOSURE)"
awk -v e="$exposure" -v max="$MAX_EXPOSURE" 'BEGIN { exit !(e <= max) }' ||
  fail "exposure $exposure is above $MAX_EXPOSURE: tighten $UNIT"

echo "== wardfeed check --config $CONFIG"
"$binary" check --config "$CONFIG" || fail "$CONFIG: rejected by $binary check"

echo "deploy: all checks passed"
