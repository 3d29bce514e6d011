#!/usr/bin/env bash
# Build (incrementally) and run the whole test suite with ctest.
#   scripts/test.sh                  every test except the long real-VM ones
#   IOMMUVM_LONG=1 scripts/test.sh   also the long real-VM campaign (label long): builds the guest
#                                    image (cached in ~/.cache/iommuvm), starts libvirtd/virtlogd and
#                                    the tap as background processes, stops them afterwards; needs root
#                                    and `scripts/setup.sh --vm-deps`; the tests skip with a reason
#                                    when any of that is not available
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

started_libvirtd=0
if [ "${IOMMUVM_LONG:-0}" = 1 ]; then
  # The time the long tests may take; they skip with a reason when they would need more.
  export IOMMUVM_TIME_BUDGET_S=${IOMMUVM_TIME_BUDGET_S:-1800}
  if command -v qemu-system-x86_64 >/dev/null && command -v libvirtd >/dev/null; then
    if bash scripts/build-guest.sh && bash scripts/libvirtd.sh start; then
      started_libvirtd=1
    else
      echo "test.sh: the guest image or libvirtd is not available: the long tests will skip" >&2
    fi
  else
    echo "test.sh: QEMU/libvirtd not installed (scripts/setup.sh --vm-deps): the long tests will skip" >&2
  fi
elif [[ " ${ctest_args[*]} " != *" -L "* ]]; then
  ctest_args+=(-LE long)
fi
cleanup() { [ "$started_libvirtd" = 1 ] && bash scripts/libvirtd.sh stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
cd "$build_dir"
ctest --output-on-failure -j2 --timeout 1500 "${ctest_args[@]}"
