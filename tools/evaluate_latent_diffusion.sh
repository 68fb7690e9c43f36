#!/usr/bin/env bash
# The figures of the bundled latent-diffusion models (README, models/upscale_x4 and models/colorize).
# Held-out photos: ../shared/data/monet2photo-mini/testA (10 photos, 256×256, never trained on).
#   SR ×4: each photo box-downscaled ×4 (64×64, the training degradation) → stylize upscale, against bicubic.
#   Colorization: stylize colorize of each photo (it sees only the lightness), against the gray photo.
# Usage: bash tools/evaluate_latent_diffusion.sh [--steps N] [--threads N]   (pillow makes the 64×64 and gray inputs)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=25; threads=2
while [ $# -gt 0 ]; do case "$1" in --steps) steps=$2; shift 2;; --threads) threads=$2; shift 2;; *) echo "unknown $1"; exit 2;; esac; done
photos=../shared/data/monet2photo-mini/testA
work=$(mktemp -d /tmp/stylize-eval.XXXXXX)
python3 - "$photos" "$work" <<'PY'
import os, sys
from PIL import Image
source, work = sys.argv[1], sys.argv[2]
for folder in ("truth", "low", "gray"):
    os.makedirs(os.path.join(work, folder))
for name in sorted(os.listdir(source)):
    image = Image.open(os.path.join(source, name)).convert("RGB")
    stem = os.path.splitext(name)[0]
    image.save(os.path.join(work, "truth", stem + ".png"))
    image.reduce(4).save(os.path.join(work, "low", stem + ".png"))
    image.convert("L").convert("RGB").save(os.path.join(work, "gray", stem + ".png"))
PY
stylize=.build/release/stylize
$stylize upscale "$work/low" "$work/sr" --steps "$steps" --threads "$threads" --quiet
$stylize upscale "$work/low" "$work/sr-raw" --steps "$steps" --threads "$threads" --consistency-steps 0 --quiet
$stylize upscale --method bicubic "$work/low" "$work/bicubic" --quiet
$stylize colorize "$work/truth" "$work/colorized" --steps "$steps" --threads "$threads" --quiet
echo "== SR ×4, latent diffusion ($steps steps, back-projection)"; $stylize eval "$work/truth" "$work/sr" --low-resolution "$work/low" | tail -1
echo "== SR ×4, latent diffusion ($steps steps, raw sample)"; $stylize eval "$work/truth" "$work/sr-raw" --low-resolution "$work/low" | tail -1
echo "== SR ×4, bicubic";                          $stylize eval "$work/truth" "$work/bicubic" --low-resolution "$work/low" | tail -1
echo "== colorization, latent diffusion ($steps steps)"; $stylize eval "$work/truth" "$work/colorized" | tail -1
echo "== colorization baseline: the gray photo";         $stylize eval "$work/truth" "$work/gray" | tail -1
echo "(outputs in $work)"
