#!/usr/bin/env bash
# The test command: install missing system libraries, build release, run every test.
# Tests run optimised (-c release) because the numeric kernels are slow unoptimised; they use only the
# public API, so no -enable-testing is needed. Fixtures are committed: no torch, no network, no ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-dependencies.sh
swift build -c release --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# All suites are XCTest; the empty Swift Testing pass is skipped so the last summary is the real one.
swift test -c release --skip-build --disable-swift-testing 2>&1 | tee "$log" || status=$?
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -n 1 || true)
total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
failed=$(echo "$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
if [ -z "$summary" ] || [ "${total:-0}" -eq 0 ]; then
    echo "no tests ran"
    exit 1
fi
echo "tests: $((total - failed)) passed, $failed failed"
exit $status
