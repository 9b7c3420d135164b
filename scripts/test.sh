#!/usr/bin/env bash
# Install what the tests need on a fresh Debian machine, then run lint, types and the suite.
#   bash scripts/test.sh [pytest args...]
# Environment: PYTHON (default python3), MEMHOUND_TEST_PYTHONS (extra versions to run the
# version-specific tests on, default "3.10 3.12 3.13" where pyenv has them; "none" to skip),
# MEMHOUND_TEST_EVERYTHING=1 (the whole suite on the extra versions too).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: Chromium for the HTML report tests (driven by Playwright, never downloaded),
# jemalloc for `memhound tune`'s jemalloc configuration, PostgreSQL and Redis servers that the
# resource tests start on free loopback ports.
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/*-linux-gnu/libjemalloc.so.2 >/dev/null 2>&1 || need+=(libjemalloc2)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# Node.js and npm for memlab's heap-snapshot parser, which the tests check our analyser against
# (the test fixture installs @memlab/heap-analysis into ~/.cache/memhound-tests/memlab).
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
# gdb and lldb for `memhound snapshot --pid` of a process without the agent: Debian's gdb 13
# cannot call functions on a CPU with AMX (memhound then uses lldb).
command -v gdb >/dev/null 2>&1 || need+=(gdb)
command -v lldb >/dev/null 2>&1 || compgen -c lldb- | grep -qE '^lldb-[0-9]+$' || need+=(lldb-19)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing Debian's ${need[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need[@]}" >/dev/null
fi

setup_venv() {  # setup_venv PYTHON DIR
  local py=$1 dir=$2
  [ -x "$dir/bin/python" ] || "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 \
    | grep -v "^WARNING: Location" || true
}

PY=${PYTHON:-python3}
VENV=.venv-test
echo "== $($PY --version) in $VENV"
setup_venv "$PY" "$VENV"

echo "== ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "== mypy --strict"
"$VENV/bin/mypy"

# Nothing the suite needs may be silently skipped here: the browser, the servers, memlab, and
# the C extensions (optional for users, whose install falls back to pure Python).
export MEMHOUND_REQUIRE_BROWSER=1 MEMHOUND_REQUIRE_SERVERS=1 MEMHOUND_REQUIRE_MEMLAB=1
export MEMHOUND_REQUIRE_NATIVE=1
echo "== pytest ($($VENV/bin/python --version))"
"$VENV/bin/python" -m pytest "$@"

extra=${MEMHOUND_TEST_PYTHONS-"3.10 3.12 3.13"}
if [ "$extra" != "none" ]; then
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for v in $extra; do
    py=$(ls -d "$root"/versions/"$v".*/bin/python3 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$py" ]; then
      echo "== Python $v not found under $root/versions: skipped"
      continue
    fi
    setup_venv "$py" ".venv-test-$v"
    # The tests of version-specific code (marked in tests/conftest.py); all with
    # MEMHOUND_TEST_EVERYTHING=1.
    only=(-m versions)
    [ "${MEMHOUND_TEST_EVERYTHING:-0}" = 1 ] && only=()
    echo "== pytest ($($py --version)${only[*]:+, ${only[*]}})"
    ".venv-test-$v/bin/python" -m pytest -q -p no:cacheprovider "${only[@]}" "$@"
  done
fi
