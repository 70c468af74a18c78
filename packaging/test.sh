#!/usr/bin/env bash
# test.sh — installs what is needed, builds with the `ci` preset (ASan+UBSan, -Werror) and runs
# every test: C++ unit tests, the layering check and the interop suite against the real peers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/packaging/install-deps.sh"
cmake --preset ci
cmake --build --preset ci
ctest --preset ci
