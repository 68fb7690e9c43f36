#!/usr/bin/env bash
# The test command: install missing system libraries, build release, run every test.
# Tests run optimised (-c release) because the numeric kernels are slow unoptimised; they use only the
# public API, so no -enable-testing is needed. Fixtures are committed: no torch, no network, no ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-dependencies.sh
swift build -c release --build-tests
swift test -c release --skip-build
