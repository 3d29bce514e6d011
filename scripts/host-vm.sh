#!/usr/bin/env bash
# Boot the host VM of scripts/build-host.sh under QEMU (TCG) with the emulated Intel IOMMU, in a
# network namespace of its own (nothing with a non-loopback address in the root namespace).
#   scripts/host-vm.sh start     namespace + taps, a fresh copy-on-write overlay of the disk, QEMU
#                                in the background; waits until the VM answers over SSH
#   scripts/host-vm.sh stop      QEMU killed, overlay and namespace removed
#   scripts/host-vm.sh status    exit 0 when QEMU runs and the VM answers over SSH
#   scripts/host-vm.sh ssh CMD   run CMD on the VM as root (from inside the namespace)
#   scripts/host-vm.sh exec CMD  run CMD on this machine inside the namespace (iommuvm, loads)
#   scripts/host-vm.sh env       print the settings below as shell assignments
# Settings (environment):
#   IOMMUVM_HOST_NS=iommuvm-host        the network namespace
#   IOMMUVM_CACHE=~/.cache/iommuvm      where build-host.sh left host/disk.raw
#   IOMMUVM_HOST_SMP=2 IOMMUVM_HOST_MEM=1024 (MiB)
# In the namespace: tap iommuvm-hm0 = 192.168.151.1/24 (management; the VM is .2, SSH),
# tap iommuvm-hd0 = 192.168.152.1/24 (data; the VM's NIC behind the vIOMMU is .2).
# VM devices (q35, pcie.0): 00:03.0 management virtio-net (enp0s3), 00:04.0 data virtio-net with
# iommu_platform=on (enp0s4), 00:05.0 virtio-blk. QEMU writes the vIOMMU invalidation trace
# events (IOTLB, context-cache, interrupt-entry: those of configs/domains/tcg-viommu.xml) to $RUN/vtd.log and its console to $RUN/console.log, RUN=$CACHE/host/run-$NS; its process
# name is iommuvm-host (what a pidstat collector's `process:` finds).
set -euo pipefail

NS=${IOMMUVM_HOST_NS:-iommuvm-host}
CACHE=${IOMMUVM_CACHE:-$HOME/.cache/iommuvm}
IMG=$CACHE/host
RUN=$IMG/run-$NS
SMP=${IOMMUVM_HOST_SMP:-2}
MEM=${IOMMUVM_HOST_MEM:-1024}
VM_IP=192.168.151.2
TAP_M=iommuvm-hm0 TAP_D=iommuvm-hd0
ADDR_M=192.168.151.1/24 ADDR_D=192.168.152.1/24

nsx() { ip netns exec "$NS" "$@"; }
vm_ssh() {
  nsx ssh -i "$IMG/id_ed25519" -o BatchMode=yes -o UserKnownHostsFile="$IMG/known_hosts" -o StrictHostKeyChecking=yes \
    -o ConnectTimeout=3 -o LogLevel=ERROR "root@$VM_IP" "$@"
}
qemu_alive() { [ -f "$RUN/qemu.pid" ] && kill -0 "$(cat "$RUN/qemu.pid")" 2>/dev/null; }

start() {
  [ "$(id -u)" = 0 ] || { echo "host-vm.sh: needs root (network namespace, taps)" >&2; exit 1; }
  [ -s "$IMG/disk.raw" ] || { echo "host-vm.sh: no $IMG/disk.raw: run scripts/build-host.sh" >&2; exit 1; }
  if qemu_alive; then echo "host-vm.sh: already running (pid $(cat "$RUN/qemu.pid"))"; return 0; fi
  ip netns list | grep -qx "$NS\( .*\)\?" || ip netns add "$NS"
  nsx ip link set lo up
  for pair in "$TAP_M $ADDR_M" "$TAP_D $ADDR_D"; do
    set -- $pair
    nsx ip link show "$1" >/dev/null 2>&1 || nsx ip tuntap add dev "$1" mode tap
    nsx ip addr show dev "$1" | grep -q "inet ${2%/*}/" || nsx ip addr add "$2" dev "$1"
    nsx ip link set "$1" up
  done
  rm -rf "$RUN"; mkdir -m 700 "$RUN"
  qemu-img create -q -f qcow2 -F raw -b "$IMG/disk.raw" "$RUN/overlay.qcow2"
  local t0; t0=$(date +%s.%N)
  nsx qemu-system-x86_64 -name iommuvm-host,process=iommuvm-host -machine q35 -accel tcg,thread=multi -smp "$SMP" -m "$MEM" \
    -device intel-iommu,intremap=on \
    -netdev tap,id=mgmt,ifname=$TAP_M,script=no,downscript=no \
    -device virtio-net-pci,netdev=mgmt,mac=52:54:00:51:00:02,addr=03.0 \
    -netdev tap,id=data,ifname=$TAP_D,script=no,downscript=no \
    -device virtio-net-pci,netdev=data,mac=52:54:00:52:00:02,addr=04.0,iommu_platform=on,disable-legacy=on \
    -drive file="$RUN/overlay.qcow2",format=qcow2,if=none,id=disk0 -device virtio-blk-pci,drive=disk0,addr=05.0 \
    -trace "enable=vtd_inv_desc_iotlb*,file=$RUN/vtd.log" -trace "enable=vtd_inv_desc_cc*,file=$RUN/vtd.log" \
    -trace "enable=vtd_inv_desc_iec,file=$RUN/vtd.log" \
    -serial file:"$RUN/console.log" -display none -monitor none -daemonize -pidfile "$RUN/qemu.pid"
  echo "host-vm.sh: QEMU started (pid $(cat "$RUN/qemu.pid")) in namespace $NS; waiting for SSH on $VM_IP"
  for _ in $(seq 1 300); do
    if vm_ssh true 2>/dev/null; then
      echo "host-vm.sh: the VM answers over SSH $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s after start"
      return 0
    fi
    qemu_alive || { echo "host-vm.sh: QEMU exited; console: $RUN/console.log" >&2; tail -20 "$RUN/console.log" >&2; exit 1; }
    sleep 1
  done
  echo "host-vm.sh: no SSH answer within 300 s; console: $RUN/console.log" >&2
  exit 1
}

stop() {
  if qemu_alive; then
    local pid; pid=$(cat "$RUN/qemu.pid")
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "host-vm.sh: stopped QEMU (pid $pid)"
  fi
  rm -rf "$RUN"
  if ip netns list | grep -qx "$NS\( .*\)\?"; then ip netns del "$NS"; echo "host-vm.sh: removed namespace $NS"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) qemu_alive && vm_ssh true ;;
  ssh) shift; vm_ssh "$@" ;;
  exec) shift; nsx "$@" ;;
  env) printf 'NS=%s\nIMG=%s\nRUN=%s\nVM_IP=%s\n' "$NS" "$IMG" "$RUN" "$VM_IP" ;;
  -h|--help|"") sed -n '2,21p' "$0"; [ -n "${1:-}" ] ;;
  *) echo "host-vm.sh: unknown command $1" >&2; exit 2 ;;
esac
