#!/usr/bin/env bash
# Installs the Debian packages stylize builds against, if any is missing.
set -euo pipefail
# openmpi-bin (mpirun and the run-time library stylize loads under mpirun) and libopenmpi-dev: data-parallel training
# and sharded batch jobs, and their tests. stylize itself neither links against MPI nor needs it without mpirun.
packages=(libopenblas-dev libpng-dev libjpeg-dev pkg-config openmpi-bin libopenmpi-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "Installing: ${missing[*]}"
sudo_command=""
if [ "$(id -u)" -ne 0 ]; then sudo_command="sudo"; fi
$sudo_command apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_command apt-get install -y -qq "${missing[@]}"
