#!/usr/bin/env bash
# Build (incrementally) and run the whole test suite with ctest.
#   scripts/test.sh                  all tests except the long real-VM ones (unless IOMMUVM_LONG=1)
#   scripts/test.sh --sanitize       the same under ASan+UBSan, in build-asan/
#   scripts/test.sh -L unit          extra arguments go to ctest (here: only the unit label)
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build setup_args=() ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) build_dir=build-asan; setup_args+=(--sanitize) ;;
    *) ctest_args+=("$1") ;;
  esac
  shift
done

# Installs test dependencies that are missing (no-op when present), then builds.
bash scripts/setup.sh --build-dir "$build_dir" "${setup_args[@]}" >/dev/null

if [ "${IOMMUVM_LONG:-0}" != 1 ] && [[ " ${ctest_args[*]} " != *" -L "* ]]; then
  ctest_args+=(-LE long)
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
cd "$build_dir"
ctest --output-on-failure -j2 --timeout 600 "${ctest_args[@]}"
