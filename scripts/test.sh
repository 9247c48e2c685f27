#!/usr/bin/env bash
# README command 2: install what is missing, then run every test: Rust unit tests, the
# integration tests (real router, real SQLite files), clippy, and the Playwright suite in
# Debian's Chromium against the real server (cargo leptos end-to-end).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup_build
setup_browser
cd "$ROOT"

# A clean CI clone would otherwise start every run from a cold target/ (many minutes).
if [ "${CI:-}" = "true" ] && [ -z "${CARGO_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="$HOME/.cache/bulwark/target"
  mkdir -p "$CARGO_TARGET_DIR"
fi

# Per package, never --workspace: that would unify the app's `ssr` and `hydrate` features.
say "unit tests: bulwark (shared schemas + services)"
cargo test -p bulwark --features server
say "unit tests: app (browser build of the schemas, then the server build)"
cargo check -p frontend --target wasm32-unknown-unknown
cargo test -p app --features ssr
say "server unit and integration tests"
cargo test -p server
say "clippy"
cargo clippy -p bulwark --features server --all-targets -- -D warnings
cargo clippy -p server --all-targets -- -D warnings
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

say "browser tests (Playwright + Debian Chromium)"
E2E_DIR="$(mktemp -d)"
trap 'rm -rf "$E2E_DIR"' EXIT
export BULWARK_E2E_PORT="${BULWARK_E2E_PORT:-3005}"
export LEPTOS_SITE_ADDR="127.0.0.1:$BULWARK_E2E_PORT"
export BULWARK_PUBLIC_URL="http://localhost:$BULWARK_E2E_PORT"
export DATABASE_URL="sqlite://$E2E_DIR/e2e.db"
export RUST_LOG="${RUST_LOG:-info,sqlx=warn,tower_sessions=warn}"
cargo leptos end-to-end
