#!/usr/bin/env bash
# README command 1: install what is missing, then build (release, files precompressed with
# brotli and gzip under content-hashed names) and serve Bulwark on
# http://localhost:3000 with an embedded SQLite file at data/bulwark.db.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup_release
cd "$ROOT"
# Until a full Have I Been Pwned list is configured (see docs/operators/deployment.md), the small sample.
export BULWARK_BREACHED_LIST="${BULWARK_BREACHED_LIST:-$ROOT/fixtures/pwned-passwords-sample.txt}"
say "building and starting Bulwark on http://localhost:3000 (Ctrl-C stops it)"
exec cargo leptos serve --release --precompress --split "$@"
