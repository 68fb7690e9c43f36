#!/usr/bin/env bash
# Installs stylize outside the build tree: PREFIX/bin/stylize and PREFIX/share/stylize/models/ (the registry and the
# bundled models), where the installed binary finds them by its own real path — also when it is started through a
# symbolic link on PATH. Builds release first unless --binary FILE names an already built one.
#
#   bash tools/install.sh                 # PREFIX=/usr/local (may need sudo)
#   bash tools/install.sh ~/.local        # a user install: ~/.local/bin/stylize
#   bash tools/install.sh --binary .build/release/stylize /opt/stylize
set -euo pipefail
cd "$(dirname "$0")/.."
binary=""
if [ "${1:-}" = "--binary" ]; then
    binary="$2"
    shift 2
fi
prefix="${1:-/usr/local}"
if [ -z "$binary" ]; then
    bash tools/install-dependencies.sh
    swift build -c release
    binary=".build/release/stylize"
fi
if [ ! -x "$binary" ]; then
    echo "install.sh: $binary is not an executable stylize binary" >&2
    exit 1
fi
mkdir -p "$prefix/bin" "$prefix/share/stylize"
# Copy to temporary names, then rename: an interrupted install never leaves half a binary or half a models folder.
cp "$binary" "$prefix/bin/.stylize.installing"
chmod 755 "$prefix/bin/.stylize.installing"
rm -rf "$prefix/share/stylize/.models.installing"
mkdir "$prefix/share/stylize/.models.installing"
cp models/registry.json "$prefix/share/stylize/.models.installing/"
for folder in models/*/; do
    name=$(basename "$folder")
    mkdir "$prefix/share/stylize/.models.installing/$name"
    cp "$folder"*.safetensors "$folder"README.md "$prefix/share/stylize/.models.installing/$name/" 2>/dev/null || true
done
rm -rf "$prefix/share/stylize/models"
mv "$prefix/share/stylize/.models.installing" "$prefix/share/stylize/models"
mv -f "$prefix/bin/.stylize.installing" "$prefix/bin/stylize"
echo "installed $prefix/bin/stylize and $prefix/share/stylize/models/"
"$prefix/bin/stylize" --version >/dev/null
case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) echo "note: $prefix/bin is not on your PATH; add it, or link the binary: ln -s $prefix/bin/stylize ~/bin/stylize" ;;
esac
