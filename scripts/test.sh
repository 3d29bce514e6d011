#!/usr/bin/env bash
# Build (incrementally) and run the whole test suite with ctest.
#   scripts/test.sh                  every test except the long real-VM ones
#   IOMMUVM_LONG=1 scripts/test.sh   also the long real-VM campaign (label long): builds the guest
#                                    image (cached in ~/.cache/iommuvm), starts libvirtd/virtlogd and
#                                    the tap as background processes, stops them afterwards; needs root
#                                    and `scripts/setup.sh --vm-deps`; the tests skip with a reason
#                                    when any of that is not available; also builds the host VM disk
#                                    (scripts/build-host.sh) that tests/long/test_host_* boot
#   scripts/test.sh --sanitize       the same under ASan+UBSan, in build-asan/
#   scripts/test.sh -L unit          extra arguments go to ctest (here: only the unit label)
# Test networks: tests send traffic only to 127.0.0.0/8, ::1, or hosts inside a network namespace
# a test or scripts/libvirtd.sh / scripts/host-vm.sh created. While ctest runs, `ip monitor address` watches the root
# namespace; an address outside loopback (and IPv6 link-local) that appears there fails the suite.
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
    # The guest with bpftrace (RealVm.ProfileInsideTheGuest; it skips with the reason without it).
    bash scripts/build-guest.sh --with-bpftrace || echo "test.sh: the bpftrace guest image is not available: RealVm.ProfileInsideTheGuest will skip" >&2
    # The host VM's disk (tests/long/test_host_*: they boot it themselves, ctest stops it).
    if [ "${IOMMUVM_HOST_VM:-0}" = 1 ]; then
      bash scripts/build-host.sh || echo "test.sh: the host VM image is not available: the host long tests will skip" >&2
    else
      echo "test.sh: the host-VM long tests (tests/long/test_host_*) skip: set IOMMUVM_HOST_VM=1 to build the host disk and run them" >&2
    fi
  else
    echo "test.sh: QEMU/libvirtd not installed (scripts/setup.sh --vm-deps): the long tests will skip" >&2
  fi
elif [[ " ${ctest_args[*]} " != *" -L "* ]]; then
  ctest_args+=(-LE long)
fi
watch_dir=$(mktemp -d)
monitor_pid=
cleanup() {
  [ -n "$monitor_pid" ] && kill "$monitor_pid" 2>/dev/null || true
  rm -rf "$watch_dir"
  [ "$started_libvirtd" = 1 ] && bash scripts/libvirtd.sh stop >/dev/null 2>&1 || true
  [ "${IOMMUVM_LONG:-0}" = 1 ] && bash scripts/host-vm.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Addresses of the root namespace outside loopback and IPv6 link-local, one "IFACE ADDR" a line.
not_loopback() { grep -v -E ' inet 127\.| inet6 (::1/|fe80:)' | awk '{print $2, $4}' | sort -u; }
if command -v ip >/dev/null; then
  ip -o addr show | not_loopback > "$watch_dir/before"
  ip -o monitor address > "$watch_dir/events" 2>&1 &
  monitor_pid=$!
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
rc=0
(cd "$build_dir" && ctest --output-on-failure -j2 --timeout 1500 "${ctest_args[@]}") || rc=$?

if [ -n "$monitor_pid" ]; then
  sleep 0.2
  kill "$monitor_pid" 2>/dev/null || true
  wait "$monitor_pid" 2>/dev/null || true
  monitor_pid=
  # Every address added during the run (monitor), and what is there now that was not before.
  added=$( { grep -v '^Deleted' "$watch_dir/events" | not_loopback;
             ip -o addr show | not_loopback | comm -13 "$watch_dir/before" -; } | sort -u | comm -13 "$watch_dir/before" -)
  if [ -n "$added" ]; then
    echo "test.sh: the root network namespace got addresses outside loopback while the tests ran:" >&2
    echo "$added" | sed 's/^/  /' >&2
    echo "test.sh: tests may only reach 127.0.0.0/8, ::1 or hosts inside a namespace they create" >&2
    [ "$rc" = 0 ] && rc=1
  else
    echo "test.sh: the root network namespace got no address outside loopback during the tests"
  fi
fi
exit "$rc"
