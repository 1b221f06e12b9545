#!/usr/bin/env bash
# Build the one-folder desktop bundle from a clean checkout and print its size.
#   bash packaging/build.sh                 # fresh build venv under build/bundle (installs torch: GBs)
#   VENV=.venv bash packaging/build.sh      # reuse an environment that already has cnnviz's dependencies
# For a CPU-only bundle (much smaller), build in an environment with a CPU torch + torchvision pair, e.g.
#   pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu   (then this script)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK="${WORK:-$ROOT/build/bundle}"
mkdir -p "$WORK"
if [ -z "${VENV:-}" ]; then
  VENV="$WORK/venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install "$ROOT"
fi
"$VENV/bin/pip" install "pyinstaller>=6.5"
rm -rf "$ROOT/dist/cnnviz"
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath "$ROOT/dist" --workpath "$WORK/pyinstaller" \
  "$ROOT/packaging/cnnviz.spec"
echo "bundle: $ROOT/dist/cnnviz"
du -sh "$ROOT/dist/cnnviz"
