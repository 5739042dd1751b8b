#!/usr/bin/env bash
# Re-sync the shared test material into the repository, so a fresh clone tests itself:
#   ../shared/fixtures -> tests/fixtures   (the fixture world and its truth)
#   ../shared/judges   -> tests/judges     (the external feed judges' wrapper scripts)
# Both are generated or maintained upstream and never edited here; a full replace keeps the
# copies exact. Usage: scripts/sync-fixtures.sh [SHARED_DIR]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${1:-"$here/../shared"}
for pair in "fixtures:tests/fixtures" "judges:tests/judges"; do
  from="$shared/${pair%%:*}"
  to="$here/${pair#*:}"
  [ -f "$from/README.md" ] || { echo "sync-fixtures: nothing at $from" >&2; exit 2; }
  rm -rf "$to"
  mkdir -p "$to"
  cp -r "$from/." "$to/"
  chmod -R u+w "$to"
  echo "synced $from -> ${pair#*:}"
done
