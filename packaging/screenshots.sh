#!/usr/bin/env bash
# screenshots.sh — renders the README's screenshots under Xvfb from a real Orbax run.
#
# Installs what is needed (Debian packages and the venv), builds the release preset, writes a
# three-step Orbax CheckpointManager run with the real orbax-checkpoint
# (packaging/screenshots/make_run.py) and saves one PNG per view into resources/screenshots/:
# heatmap, histogram, statistics, a filtered tree, the Compare window (step 300 against step 100),
# the Conform wizard (the run against "the new code's" checkpoint), the Health Check and the Run
# Over Time view. Look at them before committing.
# CKPT_STUDIO=/path/to/ckpt-studio uses an existing build instead of building the release preset.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/packaging/install-deps.sh"
app=${CKPT_STUDIO:-}
if [ -z "$app" ]; then
  cmake --preset release
  cmake --build --preset release --target ckpt-studio
  app="$root/build/release/app/ckpt-studio/ckpt-studio"
fi
out="$root/resources/screenshots"
mkdir -p "$out"
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
"$root/.venv/bin/python" "$root/packaging/screenshots/make_run.py" "$run/run" "$run/new" >/dev/null

shot() {  # shot NAME ARGS... — one screenshot of the run
  local name=$1
  shift
  xvfb-run -a -s "-screen 0 1400x900x24" "$app" "$run/run" --screenshot "$out/$name.png" "$@"
  echo "screenshots: wrote $out/$name.png"
}
kernel=default/params/layers_1/attention/query/kernel
shot heatmap --select "$kernel" --preview heatmap
shot histogram --select default/params/layers_2/mlp/wi/kernel --preview histogram
shot statistics --select default/params/embed/embedding --preview statistics
shot filtered-tree --filter '**/layers_[02]/**/kernel' --filter-syntax glob \
  --select default/opt_state/mu/layers_0/attention/value/kernel --preview heatmap
shot compare --compare "$run/run/100"
shot conform --conform "$run/new"
shot health --health
shot run-view --run-view --select "$kernel"
