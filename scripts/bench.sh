#!/usr/bin/env bash
# The benchmark: builds the release server (as README command 1 does), starts it on
# loopback with a throwaway SQLite database (or, with --postgres, a throwaway PostgreSQL
# cluster from scripts/pg.sh), creates confirmed accounts through the real
# signup and mail path, runs bounded `wrk` runs, and prints one table.
#
#   bash scripts/bench.sh [--users N] [--seconds S] [--connections C] [--no-build] [--postgres]
#                         [--only "LABEL ..."]   (runs: static anonymous signed-in me
#                                                 signin-ok signin-unknown signin-wrong)
#                         [--peers DIR]          (then the same sign-in run against the
#                                                 Django and Better Auth peers in DIR)
#
# Compare the ratios across machines, not the absolute numbers: the signed-in page
# against the anonymous one, and sign-ins per second against the bound this machine's
# cores set (cores ÷ one argon2 verification, timed by the same binary). The figures
# before the SIMD argon2id work (issue 24) are printed beside this run's; with --peers the
# two peer harnesses run after Bulwark has stopped, on the same machine with the same wrk
# settings and the same argon2id parameters, and their sign-ins per second join the table.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

USERS=100 SECONDS_PER_RUN=10 CONNECTIONS=32 BUILD=1 ONLY="" BACKEND=sqlite PEERS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS="$2"; shift 2 ;;
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --postgres) BACKEND=postgres; shift ;;
    --only) ONLY=" $2 "; shift 2 ;;
    --peers) PEERS="$(cd "$2" && pwd)"; shift 2 ;;
    *) echo "unknown option: $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done
THREADS=2
PASSWORD="bench marigold lantern 4471 quay"

need() { command -v "$1" >/dev/null; }
if ! need wrk || ! need curl; then
  say "installing wrk and curl (Debian packages)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk curl >/dev/null
fi
setup_release
cd "$ROOT"

if [ "$BUILD" = 1 ]; then
  say "building the release server and site (cargo leptos build --release --precompress --split)"
  cargo leptos build --release --precompress --split
fi
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
BIN="$TARGET_DIR/server-release/server"
[ -x "$BIN" ] || { echo "no release server at $BIN: run without --no-build" >&2; exit 1; }

WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 3077)"
URL="http://127.0.0.1:$PORT"
ORIGIN="http://localhost:$PORT"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
if [ "$BACKEND" = postgres ]; then
  source "$ROOT/scripts/pg.sh"
  pg_start   # chains its clean-up after the trap above
  pg_psql -c "CREATE DATABASE bulwark_bench"
fi

# The server as cargo-leptos would run it, on a throwaway database. What differs from the
# defaults, and why:
# - client addresses come from X-Forwarded-For set by 127.0.0.1 (this script and wrk), so
#   each request can come from its own address and per-address limits stay out of the way;
# - signups and verification mails per minute are raised so the accounts can be made quickly;
# - per-account backoff starts late, so the wrong-password run measures checking
#   passwords rather than refusing them (refusals are cheaper: no hash);
# - the hashing waiting room holds wrk's connections, so no sign-in is refused with 503.
export LEPTOS_OUTPUT_NAME=bulwark LEPTOS_SITE_ROOT=target/site LEPTOS_SITE_PKG_DIR=pkg LEPTOS_ENV=PROD
export LEPTOS_HASH_FILES=false
grep -qE '^hash-files *= *true' Cargo.toml && [ -f "$(dirname "$BIN")/hash.txt" ] && LEPTOS_HASH_FILES=true
export LEPTOS_SITE_ADDR="127.0.0.1:$PORT" BULWARK_PUBLIC_URL="$ORIGIN"
export DATABASE_URL="sqlite://$WORK/bench.db" BULWARK_MAIL_OUTBOX="$WORK/outbox"
[ "$BACKEND" = sqlite ] || DATABASE_URL="${BULWARK_TEST_PG_URL%/*}/bulwark_bench"
export BULWARK_CLIENT_IP=x-forwarded-for BULWARK_TRUSTED_PROXIES=127.0.0.1
export BULWARK_THROTTLE_SIGNUPS_PER_MINUTE=100000 BULWARK_THROTTLE_LINK_MAILS_PER_MINUTE=100000
export BULWARK_THROTTLE_ACCOUNT_BACKOFF_FROM=100000
export BULWARK_HASH_QUEUE=$((CONNECTIONS * 2))
export RUST_LOG="${RUST_LOG:-info,sqlx=warn,tower_sessions=warn}"

say "timing one argon2 verification in the release binary"
HASH_REPORT="$(RUST_LOG=error "$BIN" measure-hash --samples 40)"
HASH_LINE="$(grep -m1 'verify_ms=' <<<"$HASH_REPORT")"
VERIFY_MS="$(sed -n 's/.*verify_ms=\([0-9.]*\).*/\1/p' <<<"$HASH_LINE")"
CORES="$(sed -n 's/.*cores=\([0-9]*\).*/\1/p' <<<"$HASH_LINE")"
BOUND="$(sed -n 's/.*bound_per_sec=\([0-9.]*\).*/\1/p' <<<"$HASH_LINE")"
TOGETHER="$(sed -n 's/.*all_cores_per_sec=\([0-9.]*\).*/\1/p' <<<"$HASH_LINE")"
ENGINE="$(sed -n 's/.*engine=\([^ ]*\).*/\1/p' <<<"$HASH_LINE")"

say "starting the server on $URL (log: $WORK/server.log)"
"$BIN" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fso /dev/null "$URL/" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.2
done

post() { # post PATH BODY [curl options...]: one form POST from address 10.200.x.y
  local path="$1" body="$2"; shift 2
  curl -s -o /dev/null -w '%{http_code}' -X POST "$URL$path" -H "Origin: $ORIGIN" \
    -H "X-Forwarded-For: 10.200.$((RANDOM % 250)).$((RANDOM % 250 + 1))" \
    -H 'Content-Type: application/x-www-form-urlencoded' --data "$body" "$@"
}
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1" 2>/dev/null \
  || printf '%s' "$1" | sed 's/ /+/g; s/@/%40/g'; }
PW_ENC="$(enc "$PASSWORD")"
export -f post enc; export URL ORIGIN PW_ENC

say "creating $USERS confirmed accounts through signup, the mail and the confirmation page"
seq 0 $((USERS - 1)) | xargs -P 4 -I{} bash -c \
  'code=$(post /api/signup "email=bench-{}%40example.test&username=bench{}&password=$PW_ENC"); [ "$code" = 200 ] || { echo "signup {} answered $code" >&2; exit 255; }'
for _ in $(seq 1 300); do
  [ "$(ls "$WORK/outbox" 2>/dev/null | grep -c verify)" -ge "$USERS" ] && break
  sleep 0.2
done
# Each mail's link, soft line breaks and quoted-printable "=3D" undone.
for mail in "$WORK"/outbox/*verify*.eml; do
  tr -d '\r' <"$mail" | sed -e ':a' -e '/=$/{N;s/=\n//;ba' -e '}' | sed 's/=3D/=/g' \
    | grep -o 'verify-email?token=[A-Za-z0-9_-]*' | head -n 1 | cut -d= -f2
done >"$WORK/tokens"
[ "$(wc -l <"$WORK/tokens")" -ge "$USERS" ] || { echo "only $(wc -l <"$WORK/tokens") of $USERS mails arrived" >&2; exit 1; }
xargs -P 4 -I{} bash -c \
  'code=$(post /api/verify-email "token={}&password=$PW_ENC&username="); [ "$code" = 200 ] || { echo "confirming answered $code" >&2; exit 255; }' \
  <"$WORK/tokens"

# One signed-in browser for the signed-in runs.
# (Read from Set-Cookie: curl's jar drops `Secure` cookies sent over plain http.)
code="$(post /api/login "email=bench-0%40example.test&password=$PW_ENC" -D "$WORK/login-headers")"
[ "$code" = 200 ] || { echo "signing in answered $code" >&2; exit 1; }
COOKIE="$(tr -d '\r' <"$WORK/login-headers" | sed -n 's/^[Ss]et-[Cc]ookie: *\([^;]*\).*/\1/p' | paste -sd';' | sed 's/;/; /g')"
SIGNED_IN_HOME="$(curl -s -H "Cookie: $COOKIE" "$URL/")"
grep -q 'data-testid="home-username"' <<<"$SIGNED_IN_HOME" || { echo "the signed-in cookie does not sign in" >&2; exit 1; }

# The first page load: the HTML, every file it names and every module its scripts import
# (the split loader), as sent without and with compression (Chromium asks for br and
# gzip, and a first visit carries no cookie).
HTML="$(curl -s "$URL/login")"
ASSETS="$( { grep -oE '/(pkg/[^"'"'"' ]+|favicon\.svg)' <<<"$HTML"; grep -oE 'src="/[^"]+"' <<<"$HTML" | sed 's/^src="//; s/"$//'; } | sort -u)"
for script in $(grep -E '\.js$' <<<"$ASSETS"); do
  dir="${script%/*}"
  ASSETS="$ASSETS
$(curl -s "$URL$script" | grep -oE 'from *"\./[^"]+\.js"' | sed -E 's/^from *"\.\///; s/"$//' | sed "s|^|$dir/|" || true)"
done
ASSETS="$(sort -u <<<"$ASSETS" | sed '/^$/d')"
size() { curl -s -o /dev/null -w '%{size_download}' "$@"; }
RAW=$(size "$URL/login"); SERVED=$(size -H 'Accept-Encoding: br, gzip' "$URL/login")
WASM_RAW=0 WASM_SERVED=0 WASM_PATH="" STATIC_PATH="" CACHE=""
for asset in $ASSETS; do
  raw=$(size "$URL$asset")
  served=$(size -H 'Accept-Encoding: br, gzip' "$URL$asset")
  RAW=$((RAW + raw)); SERVED=$((SERVED + served))
  case "$asset" in
    *.wasm) WASM_RAW=$raw WASM_SERVED=$served WASM_PATH=$asset
            CACHE="$(curl -sI -H 'Accept-Encoding: br' "$URL$asset" | tr -d '\r' | grep -i '^cache-control:' | cut -d' ' -f2- || true)" ;;
    *.css) STATIC_PATH=$asset ;;
  esac
done
[ -n "$STATIC_PATH" ] || STATIC_PATH="/favicon.svg"

run() { # run LABEL MODE [env...]: one wrk run; prints "LABEL rps ok_rps p50 p99 statuses"
  local label="$1" mode="$2"; shift 2
  local line
  if [ -n "$ONLY" ] && [[ "$ONLY" != *" $label "* ]]; then return; fi
  line="$(env BENCH_MODE="$mode" BENCH_THREADS=$THREADS BENCH_USERS="$USERS" BENCH_PASSWORD="$PASSWORD" \
    BENCH_ORIGIN="$ORIGIN" "$@" wrk -t$THREADS -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --timeout 10s \
    -s "$ROOT/scripts/bench/wrk.lua" "$URL" | grep '^RESULT')"
  echo "$label $line" >>"$WORK/results"
  printf '  %-28s %s\n' "$label" "${line#RESULT }" >&2
}
say "wrk: $THREADS threads, $CONNECTIONS connections, ${SECONDS_PER_RUN} s a run"
run static get BENCH_PATH="$STATIC_PATH" BENCH_ENCODING="br, gzip"
run anonymous get BENCH_PATH=/
run signed-in get BENCH_PATH=/ BENCH_COOKIE="$COOKIE"
run me me BENCH_COOKIE="$COOKIE"
run me-anonymous me BENCH_EXPECT=401
run login-anonymous get BENCH_PATH=/login
run login-signed-in get BENCH_PATH=/login BENCH_COOKIE="$COOKIE"
run signin-ok signin-ok
run signin-unknown signin-unknown BENCH_EXPECT=401
run signin-wrong signin-wrong BENCH_EXPECT=401

field() { { grep "^$1 " "$WORK/results" || true; } | { grep -o "$2=[^ ]*" || true; } | cut -d= -f2; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
kb() { awk -v n="$1" 'BEGIN { printf "%.0f KB", n / 1024 }'; }
ANON=$(field anonymous ok_rps); SIGNED=$(field signed-in ok_rps)

echo
echo "Bulwark benchmark · $(date -u +%Y-%m-%dT%H:%MZ) · $CORES cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
echo "wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_PER_RUN}s against the release build; $USERS confirmed accounts; $([ "$BACKEND" = sqlite ] && echo SQLite || echo PostgreSQL)"
echo
printf '| %-40s | %12s | %10s | %10s | %s\n' "figure" "per second" "p50 ms" "p99 ms" "answers (status:count)"
printf '|%s|%s|%s|%s|%s\n' "------------------------------------------" "--------------" "------------" "------------" "--------"
row() { printf '| %-40s | %12s | %10s | %10s | %s\n' "$1" "$(field "$2" ok_rps)" "$(field "$2" p50_ms)" "$(field "$2" p99_ms)" "$(field "$2" statuses)"; }
row "static file (the CSS, br)" static
row "anonymous page (/)" anonymous
row "signed-in page (/)" signed-in
row "/api/me (signed in)" me
row "/api/me (anonymous: 401)" me-anonymous
row "/login, anonymous" login-anonymous
row "/login, signed in" login-signed-in
row "sign-in, right password" signin-ok
row "sign-in, unknown email" signin-unknown
row "sign-in, wrong password" signin-wrong

# Figures before the SIMD argon2id work, from the issue that asked for it (2026-12-06, a
# 2-core machine of the same kind, same wrk settings): RustCrypto argon2 0.5.
BEFORE_VERIFY_MS=17.6 BEFORE_SIGNIN=97 BEFORE_RATIO_SQLITE=0.59 BEFORE_RATIO_PG=0.34 BEFORE_FIRST_LOAD_KB=321
BEFORE_RATIO=$BEFORE_RATIO_SQLITE; [ "$BACKEND" = sqlite ] || BEFORE_RATIO=$BEFORE_RATIO_PG
SIGNIN=$(field signin-ok ok_rps)
RATIO_GOAL="≥ 0.80"; [ "$BACKEND" = sqlite ] || RATIO_GOAL="≥ 0.60"
echo
printf '| %-44s | %-26s | %-22s | %s\n' "ratio or size" "this run" "before (2026-12-06)" "goal"
printf '|%s|%s|%s|%s\n' "----------------------------------------------" "----------------------------" "------------------------" "------"
printf '| %-44s | %-26s | %-22s | %s\n' "signed-in page ÷ anonymous page" "$(ratio "$SIGNED" "$ANON")" "$BEFORE_RATIO" "$RATIO_GOAL"
printf '| %-44s | %-26s | %-22s | %s\n' "one argon2 verification" "$VERIFY_MS ms (${ENGINE:-?})" "$BEFORE_VERIFY_MS ms (RustCrypto)" "—"
printf '| %-44s | %-26s | %-22s | %s\n' "bound: cores ÷ one verification" "$BOUND /s" "$(awk -v c="$CORES" -v m="$BEFORE_VERIFY_MS" 'BEGIN { printf "%.1f /s", c * 1000 / m }')" "—"
printf '| %-44s | %-26s | %-22s | %s\n' "successful sign-ins per second" "$SIGNIN" "$BEFORE_SIGNIN" "ahead of both peers"
printf '| %-44s | %-26s | %-22s | %s\n' "successful sign-ins ÷ bound" "$(ratio "$SIGNIN" "$BOUND")" "$(awk -v s="$BEFORE_SIGNIN" -v c="$CORES" -v m="$BEFORE_VERIFY_MS" 'BEGIN { printf "%.2f", s / (c * 1000 / m) }')" "≥ 0.90"
printf '| %-44s | %-26s | %-22s | %s\n' "argon2 alone on all $CORES cores at once" "$TOGETHER /s" "—" "—"
printf '| %-44s | %-26s | %-22s | %s\n' "first load of /login (HTML + files), as sent" "$(kb "$SERVED") ($(kb "$RAW") raw)" "$BEFORE_FIRST_LOAD_KB KB" "≤ 300 KB"
printf '| %-44s | %-26s | %-22s | %s\n' "main WASM ($WASM_PATH), as sent" "$(kb "$WASM_SERVED") ($(kb "$WASM_RAW") raw)" "—" "—"
echo "Cache-Control of the WASM: ${CACHE:-none}"
echo
echo "server measure-hash (the same binary): the cost of stronger parameters on this machine"
sed -n '/verify_ms=/,$p' <<<"$HASH_REPORT" | tail -n +2 | sed 's/^/  /'

if [ -n "$PEERS" ]; then
  # Bulwark stops first: the peers get the machine to themselves, as Bulwark had it.
  kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  peer_rps() { # peer_rps FILE NAME: the rps of one RESULT line
    awk -v want="$2" '$1 == "RESULT" { for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      if (f["name"] == want) print f["rps"] }' "$1" | tail -n 1
  }
  say "the Django peer ($PEERS/django/all.sh): the right-password sign-in run only"
  DURATION="${SECONDS_PER_RUN}s" CONNECTIONS="$CONNECTIONS" WRK_THREADS="$THREADS" ONLY=c \
    RESULTS="$WORK/django.txt" bash "$PEERS/django/all.sh" >"$WORK/django.log" 2>&1 \
    || { tail -n 30 "$WORK/django.log" >&2; echo "the Django peer failed (log above)" >&2; }
  say "the Better Auth peer ($PEERS/better-auth/all.sh, PASSWORD_HASH=argon2id): the same run"
  PASSWORD_HASH=argon2id DURATION="${SECONDS_PER_RUN}s" CONNECTIONS="$CONNECTIONS" WRK_THREADS="$THREADS" ONLY=c \
    RESULTS="$WORK/better-auth.txt" bash "$PEERS/better-auth/all.sh" >"$WORK/better-auth.log" 2>&1 \
    || { tail -n 30 "$WORK/better-auth.log" >&2; echo "the Better Auth peer failed (log above)" >&2; }
  DJANGO=$(peer_rps "$WORK/django.txt" login_ok 2>/dev/null || true)
  BA=$(peer_rps "$WORK/better-auth.txt" signin_ok 2>/dev/null || true)
  echo
  echo "Successful sign-ins per second, same machine, same wrk settings (-t$THREADS -c$CONNECTIONS -d${SECONDS_PER_RUN}s), argon2id m=19456 KiB t=2 p=1:"
  printf '  %-52s %8s\n' "Bulwark ($ENGINE, $([ "$BACKEND" = sqlite ] && echo SQLite || echo PostgreSQL))" "$SIGNIN"
  printf '  %-52s %8s\n' "Better Auth 1.7 on Node, @node-rs/argon2, PostgreSQL" "${BA:-failed}"
  printf '  %-52s %8s\n' "Django 5.2 (argon2-cffi), SQLite" "${DJANGO:-failed}"
  if [ -n "$BA" ] && [ -n "$DJANGO" ]; then
    echo "  Bulwark ÷ Better Auth: $(ratio "$SIGNIN" "$BA"); Bulwark ÷ Django: $(ratio "$SIGNIN" "$DJANGO")"
  fi
fi
