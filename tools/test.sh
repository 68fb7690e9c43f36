#!/usr/bin/env bash
# The test command: install missing system libraries, build release, run every test — twice: with the default thread
# count and with STYLIZE_THREADS=1, so no test leans on one summation order or one machine's thread count.
# Tests run optimised (-c release) because the numeric kernels are slow unoptimised; they use only the public API, so
# no -enable-testing is needed. Fixtures are committed: no torch, no network, no ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-dependencies.sh
swift build -c release --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
passed=0
failed_total=0
for threads in default 1; do
    echo "== tests with ${threads} thread(s) =="
    : > "$log"
    # All suites are XCTest; the empty Swift Testing pass is skipped so the last summary is the real one.
    if [ "$threads" = default ]; then
        swift test -c release --skip-build --disable-swift-testing 2>&1 | tee "$log" || status=$?
    else
        STYLIZE_THREADS=$threads swift test -c release --skip-build --disable-swift-testing 2>&1 | tee "$log" || status=$?
    fi
    summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -n 1 || true)
    total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
    failed=$(echo "$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
    if [ -z "$summary" ] || [ "${total:-0}" -eq 0 ]; then
        echo "no tests ran (${threads} threads)"
        exit 1
    fi
    echo "tests with ${threads} thread(s): $((total - failed)) passed, $failed failed"
    passed=$((passed + total - failed))
    failed_total=$((failed_total + failed))
done
echo "tests: $passed passed, $failed_total failed (both thread counts)"
exit $status
