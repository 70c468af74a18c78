#!/usr/bin/env bash
# demo.sh — installs what is needed, builds the release preset and opens the GUI on the demo
# checkpoint. Without a display it renders the window under Xvfb to build/demo.png instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/packaging/install-deps.sh" --no-python
cmake --preset release
cmake --build --preset release
app="$root/build/release/app/ckpt-studio/ckpt-studio"
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  exec "$app" --demo "$@"
fi
echo "demo: no display; rendering the demo window under Xvfb to build/demo.png"
xvfb-run -a -s "-screen 0 1280x800x24" "$app" --demo --screenshot "$root/build/demo.png" "$@"
echo "demo: wrote $root/build/demo.png"
