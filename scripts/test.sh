#!/usr/bin/env bash
# README command 2: install what is missing, then run every test: Rust unit tests, the
# integration tests (real router) on SQLite files and again on PostgreSQL, clippy, and the
# Playwright suite in Debian's Chromium against the real server as README command 1 builds
# it (release, precompressed files under content-hashed names: cargo leptos end-to-end
# --release --split), on PostgreSQL. PostgreSQL is a throwaway cluster (scripts/pg.sh):
# Debian's package is installed when missing; no system cluster is made or touched.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup_release
setup_browser
setup_promtool
cd "$ROOT"

# A clean CI clone would otherwise start every run from a cold target/ (many minutes).
if [ "${CI:-}" = "true" ] && [ -z "${CARGO_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="$HOME/.cache/bulwark/target"
  # Incremental state only pays off across edits; in CI it is tens of GB of disk.
  export CARGO_INCREMENTAL=0
  mkdir -p "$CARGO_TARGET_DIR"
fi

# Every step's output is also kept, so the run can end with one total line.
LOG="$(mktemp)"
E2E_DIR="$(mktemp -d)"
trap 'rm -rf "$LOG" "$E2E_DIR"' EXIT
step() { "$@" 2>&1 | tee -a "$LOG"; }

# After the trap above: pg_start chains its own clean-up after it.
source "$ROOT/scripts/pg.sh"
pg_start

# Per package, never --workspace: that would unify the app's `ssr` and `hydrate` features.
say "unit tests: bulwark (shared schemas + services; storage tests on SQLite and PostgreSQL)"
step cargo test -p bulwark --features server
say "unit tests: app (server build; the browser build is compiled by clippy below)"
step cargo test -p app --features ssr
say "server unit and integration tests, on SQLite"
step env -u BULWARK_TEST_PG_URL cargo test -p server
say "integration tests again, on PostgreSQL (every test its own database)"
step cargo test -p server --test api
say "the example alert rules (promtool) and the documentation's links"
step promtool check rules ops/prometheus/alerts.yml
step promtool test rules ops/prometheus/alerts.test.yml
step bash scripts/check-docs.sh
say "formatting and clippy"
step cargo fmt --all -- --check
step cargo clippy -p bulwark --features server --all-targets -- -D warnings
step cargo clippy -p app --features ssr --all-targets -- -D warnings
step cargo clippy -p app --features hydrate --target wasm32-unknown-unknown -- -D warnings
step cargo clippy -p server --all-targets -- -D warnings
step cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

say "browser tests (Playwright + Debian Chromium)"
export BULWARK_E2E_PORT="${BULWARK_E2E_PORT:-3005}"
export LEPTOS_SITE_ADDR="127.0.0.1:$BULWARK_E2E_PORT"
export BULWARK_PUBLIC_URL="http://localhost:$BULWARK_E2E_PORT"
# On PostgreSQL: the integration tests above ran on both backends, the browser suite runs
# once, on the one SQLite is not the default for.
pg_psql -c "CREATE DATABASE bulwark_e2e"
export DATABASE_URL="${BULWARK_TEST_PG_URL%/*}/bulwark_e2e"
export RUST_LOG="${RUST_LOG:-info,sqlx=warn,tower_sessions=warn}"
# Every browser test comes from 127.0.0.1: per-address limits would make the tests depend
# on each other, so they are raised here (the integration tests cover them). Per-account
# backoff stays at its defaults and is tested in the browser.
# The sample breached-password list (docs/operators/deployment.md), so a breached password is refused.
export BULWARK_BREACHED_LIST="$ROOT/fixtures/pwned-passwords-sample.txt"
export BULWARK_THROTTLE_IP_LADDER="1000:60"
export BULWARK_THROTTLE_SIGNUPS_PER_IP_PER_HOUR=1000
export BULWARK_THROTTLE_MAIL_REQUESTS_PER_IP_PER_HOUR=1000
export BULWARK_THROTTLE_LINK_SUBMISSIONS_PER_IP_PER_HOUR=1000
# Every browser test comes from 127.0.0.1, which gets a tenth of each site-wide allowance.
export BULWARK_THROTTLE_SIGNUPS_PER_MINUTE=10000
# Every page load of /login with JavaScript starts a passkey sign-in (browser autofill).
export BULWARK_THROTTLE_PASSKEY_STARTS_PER_MINUTE=100000
# One secret for the server and the `server create-admin --totp-secret` the tests run, so
# authenticator secrets sealed by one open in the other.
export BULWARK_SECRET="end-to-end tests only, never in production: 0123456789"
export BULWARK_THROTTLE_LINK_MAILS_PER_MINUTE=10000
# Mail goes over SMTP to the sink that Playwright's global set-up runs (end2end/mail-sink.ts).
export BULWARK_E2E_SMTP_PORT="${BULWARK_E2E_SMTP_PORT:-2525}"
export BULWARK_SMTP_HOST=127.0.0.1
export BULWARK_SMTP_PORT="$BULWARK_E2E_SMTP_PORT"
export BULWARK_SMTP_TLS=none
export FORCE_COLOR=0
# The browser suite makes its accounts with `server create-user` / `create-admin` on the
# database the server under test uses (end2end/tests/fixtures.ts): the binary this run builds.
export BULWARK_SERVER_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/server-release/server"
step cargo leptos end-to-end --release --precompress --split

# The server's log from the browser run must name no password, email address or mail token: the
# suite signs up and in with one known password and many @example.com addresses.
say "checking the server log for personal data"
if grep -aF -e "violet quasar harbour tulip" -e "@example.com" -e "token=" "$LOG" | grep -av "✓\|✘\|›"; then
  echo "the server log above contains a password, an email address or a mail token" >&2
  exit 1
fi

# One closing line for every suite: cargo's "test result" lines plus Playwright's total.
rust=$(grep -aoE 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$LOG" | awk '{p += $4; f += $6} END {print p + 0, f + 0}')
browser_passed=$(grep -aoE '^ *[0-9]+ passed \(' "$LOG" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
browser_failed=$(grep -aoE '^ *[0-9]+ failed$' "$LOG" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
set -- $rust
if [ "${browser_passed:-0}" -eq 0 ]; then
  echo "the browser suite ran no test" >&2
  exit 1
fi
echo "rust: $1 passed, $2 failed; browser: ${browser_passed:-0} passed, ${browser_failed:-0} failed"
echo "$(( $1 + ${browser_passed:-0} )) passed, $(( $2 + ${browser_failed:-0} )) failed"
