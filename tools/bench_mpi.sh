#!/usr/bin/env bash
# Data-parallel throughput: the same CycleGAN training (resnet_9blocks, 128² crops, batch 1 per process) as one
# process with 1 thread and as `mpirun -np 2` with 1 thread per rank; prints images per second of each, measured
# from the loss log's clock between iteration WARMUP and the last (so start-up and the first slow steps are left out).
# Usage: bash tools/bench_mpi.sh [--dataroot DIR] [--iters N] [--warmup N]
set -euo pipefail
cd "$(dirname "$0")/.."
dataroot=../shared/data/horse2zebra-mini; iters=24; warmup=4
while [ $# -gt 0 ]; do
    case "$1" in
        --dataroot) dataroot=$2; shift 2;; --iters) iters=$2; shift 2;; --warmup) warmup=$2; shift 2;;
        *) echo "unknown $1"; exit 2;;
    esac
done
stylize=$(pwd)/.build/release/stylize
work=$(mktemp -d /tmp/stylize-mpi.XXXXXX)
common=(--dataroot "$dataroot" --load-size 143 --crop-size 128 --max-iters "$iters" --print-every 1 --quiet
        --checkpoints-dir "$work" --threads 1 --seed 1)
rate() { # images per second from a run's loss log: (iterations after warm-up × images per iteration) / seconds
    python3 - "$1" "$2" "$warmup" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
images, warmup = int(sys.argv[2]), int(sys.argv[3])
start = next(r for r in records if r["iteration"] == warmup)
end = records[-1]
print(f"{(end['iteration'] - warmup) * images / (end['seconds'] - start['seconds']):.3f}")
PY
}
"$stylize" train cyclegan --name one "${common[@]}" > /dev/null
one=$(rate "$work/one/loss_log.jsonl" 1)
mpirun --allow-run-as-root --oversubscribe -np 2 "$stylize" train cyclegan --name two "${common[@]}" > /dev/null
two=$(rate "$work/two/loss_log.jsonl" 2)
echo "CycleGAN resnet_9blocks 128², batch 1 per process, 1 thread each, iterations $warmup–$iters:"
echo "  1 process : $one images/s"
echo "  2 ranks   : $two images/s ($(python3 -c "print(f'{$two / $one:.2f}')")× the single process)"
rm -rf "$work"
