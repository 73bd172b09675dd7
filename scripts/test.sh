#!/usr/bin/env bash
# Builds and runs the whole test suite, then prints "N passed, N failed" computed from the TRX results.
# --fast leaves out the slow tests (learning curves, end-to-end reproductions; [Trait("Category", "Slow")]).
set -uo pipefail
cd "$(dirname "$0")/.."
filter=()
case "${1:-}" in
  --fast) filter=(--filter "Category!=Slow") ;;
  "") ;;
  *) echo "usage: scripts/test.sh [--fast]" >&2; exit 2 ;;
esac
# The MuJoCo tests run everywhere (none is skipped): install Debian's MuJoCo 2.2.2 and gcc when missing.
./scripts/ensure-mujoco.sh || { echo "0 passed, 0 failed"; exit 2; }
# The compare report's test opens its HTML in Debian's headless chromium: install it when missing.
./scripts/ensure-chromium.sh || { echo "0 passed, 0 failed"; exit 2; }
results="$(mktemp -d)"
dotnet test MetaRl.slnx -c Release "${filter[@]}" --logger "trx;LogFileName=results.trx" --results-directory "$results"
rc=$?
trx="$(find "$results" -name '*.trx' -print -quit)"
if [ -z "$trx" ]; then
  echo "no test results were written (the build failed?)" >&2
  echo "0 passed, 0 failed"
  exit $(( rc == 0 ? 1 : rc ))
fi
counters="$(grep -o '<Counters [^>]*>' "$trx")"
count() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
passed="$(count passed)"; failed="$(count failed)"
echo "${passed:-0} passed, ${failed:-0} failed"
exit $rc
