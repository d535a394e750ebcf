#!/usr/bin/env bash
# tests/openapi/install.sh DEST: installs the contract tests' npm packages (package-lock.json,
# from the npm registry) into DEST, once per lock file, and copies the checks beside them (ES
# modules resolve packages from their own folder). Tests only: beampipe never needs npm or node
# at run time.
set -euo pipefail
src="$(cd "$(dirname "$0")" && pwd)"
dest="$1"
mkdir -p "$dest"
cp "$src"/*.mjs "$dest/"
if [[ -d "$dest/node_modules" ]] && cmp -s "$src/package-lock.json" "$dest/.installed-lock.json"; then
  exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error)
cp "$src/package-lock.json" "$dest/.installed-lock.json"
