#!/usr/bin/env bash
# Install iommuvm's dependencies from Debian 12 packages and build it.
#   scripts/setup.sh                 build deps + test deps, then build into build/
#   scripts/setup.sh --no-test-deps  only what building needs
#   scripts/setup.sh --deps-only     install, do not build
#   scripts/setup.sh --vm-deps       also QEMU and libvirtd for the real-guest tests (large)
# Nothing is enabled as a system service: tests start their servers themselves on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1 test_deps=1 vm_deps=0 build_dir=build cmake_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-test-deps) test_deps=0 ;;
    --deps-only) build=0 ;;
    --vm-deps) vm_deps=1 ;;
    --build-dir) build_dir=$2; shift ;;
    --sanitize) cmake_args+=(-DIOMMUVM_SANITIZE=ON) ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

BUILD_PKGS=(build-essential cmake ninja-build pkg-config ccache
  libvirt-dev libssh-dev libyaml-cpp-dev libcli11-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libpugixml-dev libre2-dev libgtest-dev libgmock-dev googletest)
# What the tests drive for real: sshd, servers and load generators, libvirt's
# clients (virt-xml-validate), gnuplot for figures.
TEST_PKGS=(openssh-server openssh-client redis-server redis-tools memcached nginx-light wrk
  libmemcached-tools apache2-utils iperf3 ethtool gnuplot-nox libvirt-clients procps psmisc sysstat linux-perf iproute2
  python3-jsonschema grub-common clang)  # clang: scripts/fuzz.sh
VM_PKGS=(libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils linux-image-amd64 busybox-static cpio
  openssh-server openssh-sftp-server openssh-client util-linux dash redis-server redis-tools nginx-light iproute2
  mmdebstrap fdisk e2fsprogs   # scripts/build-host.sh (the host VM's disk)
  bpftrace)                     # scripts/build-guest.sh --with-bpftrace (the profiling guest)

pkgs=("${BUILD_PKGS[@]}")
[ "$test_deps" = 1 ] && pkgs+=("${TEST_PKGS[@]}")
[ "$vm_deps" = 1 ] && pkgs+=("${VM_PKGS[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup.sh: installing ${missing[*]}"
  # Debian starts services on install; keep that from happening (tests start their own).
  policy_rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    policy_rc=1
  fi
  trap '[ "$policy_rc" = 1 ] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ "$build" = 1 ] || exit 0
cmake -S . -B "$build_dir" -G Ninja "${cmake_args[@]}"
cmake --build "$build_dir"
echo "setup.sh: built $build_dir/iommuvm"
