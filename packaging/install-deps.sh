#!/usr/bin/env bash
# install-deps.sh [--no-python] — installs what Checkpoint Studio needs to build, run and test:
# Debian packages (compiler, CMake, Qt 6, HDF5, msgpack-cxx, CLI11, zstd, nlohmann_json, Xvfb;
# dpkg-dev for the .deb's Depends, shared-mime-info and desktop-file-utils to check its desktop
# integration, clang-14 with libFuzzer for the fuzz targets) and, unless --no-python, a git-ignored venv (.venv) with the real Python peers pinned in
# packaging/requirements-interop.txt. Idempotent and quick when everything is there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
want_python=1
[ "${1:-}" = "--no-python" ] && want_python=0

packages=(
  build-essential cmake ninja-build pkg-config git
  qt6-base-dev libgl-dev libhdf5-dev nlohmann-json3-dev libzstd-dev zlib1g-dev libmsgpack-cxx-dev libcli11-dev
  xvfb xauth fonts-dejavu-core python3 python3-venv
  dpkg-dev shared-mime-info desktop-file-utils
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: Debian packages present"
fi

[ $want_python -eq 1 ] || exit 0

venv="$root/.venv"
req="$here/requirements-interop.txt"
stamp="$venv/.requirements.sha256"
sum=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
  echo "install-deps: Python venv up to date ($venv)"
  exit 0
fi
python=${CKPT_BASE_PYTHON:-python3}
echo "install-deps: creating Python venv with the interop peers at $venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r "$req"
"$venv/bin/python" -c "import numpy, ml_dtypes, msgpack, jax, flax, orbax.checkpoint, tensorstore, h5py, hdf5plugin, safetensors, pytest"
echo "$sum" > "$stamp"
echo "install-deps: venv ready"
