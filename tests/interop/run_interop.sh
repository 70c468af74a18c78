#!/usr/bin/env bash
# run_interop.sh PYTHON CKPT_BIN SUITE_DIR — runs the interop pytest suite; fails (never skips)
# when the venv or the peers are missing.
set -euo pipefail
python=$1 ckpt_bin=$2 suite=$3
if [ ! -x "$python" ]; then
  echo "interop: no Python venv at $python — run packaging/install-deps.sh first" >&2
  exit 1
fi
if ! "$python" -c "import numpy, ml_dtypes, msgpack, jax, flax, orbax.checkpoint, tensorstore, h5py, safetensors, pytest" 2>/tmp/ckpt-interop-import.$$; then
  echo "interop: the real peers are not importable from $python:" >&2
  cat /tmp/ckpt-interop-import.$$ >&2
  rm -f /tmp/ckpt-interop-import.$$
  exit 1
fi
rm -f /tmp/ckpt-interop-import.$$
export CKPT_BIN=$ckpt_bin JAX_PLATFORMS=cpu
cd "$suite"
# -p no:cacheprovider keeps the source tree clean; -rs lists any skip (there should be none).
exec "$python" -m pytest -q -rs -p no:cacheprovider "$suite"
