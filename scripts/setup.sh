#!/usr/bin/env bash
# Installs whatever this machine lacks to build Bulwark, and skips what is already there,
# so a warm machine spends seconds here. Sourced by run.sh and test.sh.
#
#   setup_build     wasm32 target, wasm-bindgen-cli (matching Cargo.lock), cargo-leptos
#   setup_release   + wasm-opt from the npm `binaryen` package (release builds)
#   setup_browser   + Debian chromium and the Playwright npm packages (browser tests)
#   setup_promtool  Debian's prometheus package, for promtool (checks the alert rules)
#
# Versions are the ones verified on these machines (see docs/development/toolchain.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_LEPTOS_VERSION="0.3.10"
BINARYEN_VERSION="132.0.0"
export PATH="$HOME/.cargo/bin:$ROOT/tools/node_modules/.bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# The wasm-bindgen CLI must match the wasm-bindgen crate exactly; read it from the lockfile.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

setup_build() {
  command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first (https://rustup.rs)" >&2; exit 1; }
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  local want; want="$(wasm_bindgen_version)"
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    say "installing wasm-bindgen-cli $want (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "=$want"
  fi
  if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (10-20 minutes, once)"
    cargo install "cargo-leptos@$CARGO_LEPTOS_VERSION" --locked
  fi
}

setup_release() {
  setup_build
  if [ "$(wasm-opt --version 2>/dev/null | awk '{print $3}')" != "${BINARYEN_VERSION%%.*}" ]; then
    say "installing wasm-opt (npm binaryen $BINARYEN_VERSION)"
    (cd "$ROOT/tools" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

setup_browser() {
  if [ -z "${BULWARK_CHROMIUM:-}" ] && ! command -v chromium >/dev/null; then
    say "installing Debian's chromium"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -d "$ROOT/end2end/node_modules/@playwright/test" ] || [ "$ROOT/end2end/package-lock.json" -nt "$ROOT/end2end/node_modules/.package-lock.json" ]; then
    say "installing the Playwright test runner (npm; no browser download)"
    (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# promtool comes with Debian's prometheus package. Its server is not wanted: while the
# package installs, a policy-rc.d refuses every service start (unless one is in place).
setup_promtool() {
  command -v promtool >/dev/null && return 0
  say "installing Debian's prometheus package (for promtool; its server is not started)"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local policy=/usr/sbin/policy-rc.d made=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    made=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  [ -z "$made" ] || $sudo rm -f "$policy"
}
