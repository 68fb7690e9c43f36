#!/usr/bin/env bash
# The figures of a photo → Monet generator (models/photo2monet/README.md):
#   1. PSNR and SSIM to the official CycleGAN style_monet outputs on the 10 held-out photos of
#      ../shared/data/monet2photo-mini/testA (never trained on), and the unchanged photos as the baseline;
#   2. the checkerboard test: its output for a 2560×1600 photo (aitzgorri_by_Aitzol_Berasategi.jpg of Debian's
#      lomiri-wallpapers-16.04, cropped to 16:10 and resized with Lanczos by pillow) scored with `stylize eval
#      --periodic` (the 4-px ratio of the output against the photo's own).
# Usage: bash tools/evaluate_photo2monet.sh [--model NAME|FILE] [--threads N]
set -euo pipefail
cd "$(dirname "$0")/.."
model=photo2monet; threads=2
while [ $# -gt 0 ]; do
    case "$1" in
        --model) model=$2; shift 2;; --threads) threads=$2; shift 2;;
        *) echo "unknown $1"; exit 2;;
    esac
done
stylize=.build/release/stylize
data=../shared/data/monet2photo-mini
work=$(mktemp -d /tmp/stylize-p2m.XXXXXX)
$stylize --model "$model" "$data/testA" "$work/testA" --threads "$threads" --quiet
echo "== the 10 held-out photos against the official style_monet outputs"
echo "model: $($stylize eval "$data/official_style_monet" "$work/testA" | tail -1)"
echo "unchanged photos: $($stylize eval "$data/official_style_monet" "$data/testA" | tail -1)"
mkdir -p "$work/deb" "$work/large"
(cd "$work/deb" && apt-get download lomiri-wallpapers-16.04 >/dev/null && dpkg -x lomiri-wallpapers-16.04_*.deb x)
python3 - "$work/deb/x/usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg" "$work/large/aitzgorri.png" <<'PY'
import sys
from PIL import Image
image = Image.open(sys.argv[1]).convert("RGB")
width, height = image.size
cropped = int(width * 1600 / 2560)
top = (height - cropped) // 2
image.crop((0, top, width, top + cropped)).resize((2560, 1600), Image.LANCZOS).save(sys.argv[2])
PY
$stylize --model "$model" "$work/large" "$work/large-out" --threads "$threads" --quiet
echo "== a 2560×1600 photo: grid-locked periodic peaks (output; reference = the photo)"
$stylize eval "$work/large" "$work/large-out" --periodic | head -1
echo "(outputs in $work)"
