#!/usr/bin/env bash
# Add cnnviz to the desktop's application menu for this user: the .desktop entry and the icons.
#   bash packaging/install-desktop.sh                    # runs `cnnviz` from PATH (pip install)
#   bash packaging/install-desktop.sh /opt/cnnviz/cnnviz # runs the bundle's executable
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EXEC="${1:-cnnviz}"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
for size in 16 24 32 48 64 128 256 512; do
  mkdir -p "$DATA/icons/hicolor/${size}x${size}/apps"
  cp "$ROOT/assets/icons/cnnviz-$size.png" "$DATA/icons/hicolor/${size}x${size}/apps/cnnviz.png"
done
mkdir -p "$DATA/icons/hicolor/scalable/apps" "$DATA/applications"
cp "$ROOT/assets/cnnviz.svg" "$DATA/icons/hicolor/scalable/apps/cnnviz.svg"
sed "s|^Exec=cnnviz|Exec=$EXEC|" "$ROOT/packaging/cnnviz.desktop" > "$DATA/applications/cnnviz.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database "$DATA/applications" || true
echo "installed $DATA/applications/cnnviz.desktop (Exec=$EXEC)"
