#!/usr/bin/env bash
# Run the built bundle headless: --version, then a screenshot of the drawn demo. Exit 0 only if both work.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
APP="${1:-$ROOT/dist/cnnviz/cnnviz}"
OUT=$(mktemp -d)
export QT_QPA_PLATFORM=offscreen XDG_CONFIG_HOME="$OUT/config"
"$APP" --version
start=$(date +%s.%N)
"$APP" --draw-demo --screenshot "$OUT/shot.png"
end=$(date +%s.%N)
python3 - "$OUT/shot.png" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
width, height = struct.unpack(">II", data[16:24])
assert width >= 800 and height >= 500 and len(data) > 20000, (width, height, len(data))
print(f"screenshot {width}x{height}, {len(data)} bytes")
PY
echo "bundle smoke test passed (screenshot run: $(python3 -c "print(round($end - $start, 1))") s)"
