#!/usr/bin/env bash
# Downloads an official CycleGAN or pix2pix dataset by name into datasets/NAME/ (needs internet).
# Usage: bash datasets/download.sh NAME        bash datasets/download.sh --list
set -euo pipefail
cyclegan=(apple2orange summer2winter_yosemite horse2zebra monet2photo cezanne2photo ukiyoe2photo vangogh2photo
          maps cityscapes facades iphone2dslr_flower mini mini_pix2pix mini_colorization ae_photos grumpifycat)
pix2pix=(cityscapes night2day edges2handbags edges2shoes facades maps)
if [ "${1:-}" = "--list" ] || [ $# -ne 1 ]; then
    echo "CycleGAN datasets: ${cyclegan[*]}"
    echo "pix2pix datasets (download as pix2pix_NAME): ${pix2pix[*]}"
    echo "usage: bash datasets/download.sh NAME   (pix2pix ones as pix2pix_NAME, e.g. pix2pix_facades)"
    [ $# -eq 1 ] && exit 0 || exit 2
fi
name=$1
here=$(cd "$(dirname "$0")" && pwd)
target="$here/$name"
if [ -e "$target" ]; then echo "$target already exists; remove it to download again"; exit 1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fetch() { if command -v curl >/dev/null; then curl -fL --retry 2 -o "$2" "$1"; else wget -O "$2" "$1"; fi; }
if [[ "$name" == pix2pix_* ]]; then
    short=${name#pix2pix_}
    [[ " ${pix2pix[*]} " == *" $short "* ]] || { echo "unknown pix2pix dataset '$short'"; exit 2; }
    fetch "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/$short.tar.gz" "$tmp/data.tar.gz"
    mkdir -p "$tmp/out" && tar -xzf "$tmp/data.tar.gz" -C "$tmp/out"
    mv "$tmp/out/$short" "$target"
else
    [[ " ${cyclegan[*]} " == *" $name "* ]] || { echo "unknown dataset '$name' (see --list)"; exit 2; }
    fetch "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/$name.zip" "$tmp/data.zip"
    mkdir -p "$tmp/out" && (cd "$tmp/out" && unzip -q "$tmp/data.zip")
    mv "$tmp/out/$name" "$target"
fi
echo "downloaded $name into $target"
