#!/usr/bin/env bash
# One command on a fresh Debian/Ubuntu machine with Swift 6: install the system libraries,
# build stylize in release mode, and run the main job (the engine benchmark, for now).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-dependencies.sh
swift build -c release
.build/release/stylize --version
.build/release/stylize bench "$@"
