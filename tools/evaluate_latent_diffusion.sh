#!/usr/bin/env bash
# The figures of the bundled two-stage models (README, models/upscale_x4, models/colorize) on held-out photos:
# ../shared/data/monet2photo-mini/testA (10 photos, 256×256, never trained on), with the issue's definitions:
#   SR ×4: input = PIL BICUBIC ÷4 of each photo (64×64); bicubic, stage 1 (--detail 0), the default, the most detail
#          (--detail 1); PSNR, SSIM, sharpness ratio (mean |∂x| + |∂y| of mean-of-RGB, to the truth's), consistency
#          (PSNR of PIL-bicubic ÷4 of the output against the input).
#   Colorization: the photo's gray version in; the gray photo itself, the default, the most vivid (--vibrance 1.4
#          --temperature 0.3); PSNR, SSIM, colourfulness ratio (Hasler–Süsstrunk, to the truth's).
#   The VAE: reconstruction PSNR of the photos (pass --vae FILE; the bundled models carry theirs).
# Writes tools/../models/side_by_side.png (three photos, each row: inputs and outputs side by side).
# Usage: bash tools/evaluate_latent_diffusion.sh [--threads N] [--vae FILE] [--upscaler FILE] [--colorizer FILE]
#        (pillow makes the 64×64 and gray inputs and the side-by-side figure: reference numbers only)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2; vae=""; upscaler=""; colorizer=""
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads=$2; shift 2;; --vae) vae=$2; shift 2;;
        --upscaler) upscaler=$2; shift 2;; --colorizer) colorizer=$2; shift 2;;
        *) echo "unknown $1"; exit 2;;
    esac
done
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
    image.resize((image.width // 4, image.height // 4), Image.BICUBIC).save(os.path.join(work, "low", stem + ".png"))
    image.convert("L").convert("RGB").save(os.path.join(work, "gray", stem + ".png"))
PY
stylize=.build/release/stylize
up=(); [ -n "$upscaler" ] && up=(--model "$upscaler")
co=(); [ -n "$colorizer" ] && co=(--model "$colorizer")
$stylize upscale --method bicubic "$work/low" "$work/bicubic" --quiet
$stylize upscale "${up[@]}" "$work/low" "$work/sr-stage1" --detail 0 --threads "$threads" --quiet
$stylize upscale "${up[@]}" "$work/low" "$work/sr-default" --threads "$threads" --quiet
$stylize upscale "${up[@]}" "$work/low" "$work/sr-detail1" --detail 1 --threads "$threads" --quiet
$stylize colorize "${co[@]}" "$work/gray" "$work/color-default" --threads "$threads" --quiet
$stylize colorize "${co[@]}" "$work/gray" "$work/color-vivid" --vibrance 1.4 --temperature 0.3 --threads "$threads" --quiet
row() { $stylize eval "$work/truth" "$work/$2" "${@:3}" | tail -1 | sed "s/^/$1: /"; }
echo "== SR ×4 (input: PIL bicubic ÷4, 64×64)"
row "bicubic" bicubic --low-resolution "$work/low"
row "stage 1 (--detail 0)" sr-stage1 --low-resolution "$work/low"
row "default" sr-default --low-resolution "$work/low"
row "most detail (--detail 1)" sr-detail1 --low-resolution "$work/low"
echo "== colorization (input: the gray photo)"
row "the gray input" gray
row "default" color-default
row "most vivid (--vibrance 1.4 --temperature 0.3)" color-vivid
if [ -n "$vae" ]; then
    echo "== the VAE's reconstructions"
    $stylize eval "$work/truth" "$work/vae" --autoencoder "$vae" | tail -1 | sed "s/^/VAE: /"
fi
python3 - "$work" models/side_by_side.png <<'PY'
import os, sys
from PIL import Image, ImageDraw
work, target = sys.argv[1], sys.argv[2]
names = sorted(os.listdir(os.path.join(work, "truth")))[:3]
columns = [("low", "input (1/4 size)"), ("bicubic", "bicubic"), ("sr-stage1", "stage 1"), ("sr-default", "default"), ("sr-detail1", "detail 1"),
           ("truth", "truth"), ("gray", "gray input"), ("color-default", "colorized"), ("color-vivid", "most vivid"), ("truth", "truth")]
cell, label = 192, 16
sheet = Image.new("RGB", (cell * len(columns), (cell + label) * len(names)), "white")
draw = ImageDraw.Draw(sheet)
for row, name in enumerate(names):
    for column, (folder, title) in enumerate(columns):
        image = Image.open(os.path.join(work, folder, name)).convert("RGB").resize((cell, cell), Image.NEAREST)
        sheet.paste(image, (column * cell, row * (cell + label) + label))
        draw.text((column * cell + 4, row * (cell + label) + 3), title, fill="black")
sheet.save(target)
print(f"wrote {target}")
PY
echo "(outputs in $work)"
