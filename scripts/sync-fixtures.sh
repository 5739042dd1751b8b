#!/usr/bin/env bash
# Re-sync tests/fixtures/ from the shared fixture world (../shared/fixtures by default).
# The fixture tree is generated upstream and never edited here; a full replace keeps the copy exact.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=${1:-"$here/../shared/fixtures"}
[ -f "$src/README.md" ] || { echo "sync-fixtures: no fixture world at $src" >&2; exit 2; }
rm -rf "$here/tests/fixtures"
mkdir -p "$here/tests/fixtures"
cp -r "$src/." "$here/tests/fixtures/"
chmod -R u+w "$here/tests/fixtures"
echo "synced $src -> tests/fixtures"
