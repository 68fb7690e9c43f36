#!/usr/bin/env bash
# One command on a fresh Debian/Ubuntu machine with Swift 6: install the system libraries, build stylize in
# release mode, and run the main job — the bundled photo2monet model over the sample photos into runs/samples/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-dependencies.sh
swift build -c release
.build/release/stylize --version
.build/release/stylize --model photo2monet datasets/samples runs/samples "$@"
echo "Outputs in runs/samples/. Next: .build/release/stylize --help, or .build/release/stylize bench"
