#!/usr/bin/env bash
# The documentation's links (scripts/check-docs.mjs: every relative link names a file that
# exists, and a heading that exists when it has an anchor). Part of the test command; the
# settings table is checked against the configuration code by a unit test
# (server/src/config/tests.rs).
set -euo pipefail
exec node "$(dirname "${BASH_SOURCE[0]}")/check-docs.mjs"
