#!/usr/bin/env bash
# Lighthouse (mobile, its default simulated throttling) on /, /login and /signup of the
# release server, in Debian's Chromium. Prints each page's performance and SEO scores and LCP.
#
#   bash scripts/lighthouse.sh [--no-build]
#
# Lighthouse comes from the npm registry into ~/.cache/bulwark/lighthouse (once); it is
# not part of the test command. Run it on an otherwise idle machine: its scores depend on
# how busy the CPU is.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
BUILD=1
[ "${1:-}" = "--no-build" ] && BUILD=0
setup_release
setup_browser
cd "$ROOT"

LH_DIR="$HOME/.cache/bulwark/lighthouse"
if [ ! -x "$LH_DIR/node_modules/.bin/lighthouse" ]; then
  say "installing lighthouse (npm, once)"
  mkdir -p "$LH_DIR"
  (cd "$LH_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } \
    && npm install --no-audit --no-fund --loglevel=error lighthouse@12)
fi
[ "$BUILD" = 1 ] && cargo leptos build --release --precompress --split
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
BIN="$TARGET_DIR/server-release/server"

WORK="$(mktemp -d)"
PORT=3078
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
export LEPTOS_OUTPUT_NAME=bulwark LEPTOS_SITE_ROOT=target/site LEPTOS_SITE_PKG_DIR=pkg LEPTOS_ENV=PROD
export LEPTOS_HASH_FILES=true LEPTOS_SITE_ADDR="127.0.0.1:$PORT" BULWARK_PUBLIC_URL="http://localhost:$PORT"
export DATABASE_URL="sqlite://$WORK/lh.db" BULWARK_MAIL_OUTBOX="$WORK/outbox" RUST_LOG=warn
"$BIN" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -fso /dev/null "http://localhost:$PORT/" && break; sleep 0.2; done

CHROME="${BULWARK_CHROMIUM:-$(command -v chromium)}"
for page in / /login /signup; do
  CHROME_PATH="$CHROME" "$LH_DIR/node_modules/.bin/lighthouse" "http://localhost:$PORT$page" \
    --only-categories=performance,seo --output=json --output-path="$WORK/report.json" --quiet \
    --chrome-flags="--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage" >/dev/null
  node -e '
    const r = require(process.argv[1]);
    const a = r.audits;
    console.log(`${process.argv[2].padEnd(8)} performance ${Math.round(r.categories.performance.score * 100)} seo ${Math.round(r.categories.seo.score * 100)}` +
      `  FCP ${a["first-contentful-paint"].displayValue}  LCP ${a["largest-contentful-paint"].displayValue}` +
      `  TBT ${a["total-blocking-time"].displayValue}  CLS ${a["cumulative-layout-shift"].displayValue}`);
  ' "$WORK/report.json" "$page"
done
