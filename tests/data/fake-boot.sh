#!/bin/sh
# Simulated boot of a test machine whose root prefix is $1 with the kernel command line $3
# (used by fake-reboot.sh and fake-kexec.sh; see tests/e2e/test_campaign.cpp):
#  - ROOT/proc/cmdline is the command line;
#  - the kernel log (ROOT/var/log/dmesg), the IOMMU group types and /sys/class/iommu follow
#    from that command line, in the formats Linux 6.x prints;
#  - a new boot id;
#  - when a pid file is given ($2, may be empty): sshd and every session die, as in a
#    reboot; the test's supervisor starts sshd again a moment later. Without one (the
#    machine is the controller, reached without SSH) only the boot id changes, a moment later.
set -eu
root=$1 pidfile=$2 cmdline=$3
printf '%s\n' "$cmdline" > "$root/proc/cmdline"

case " $cmdline " in
  *" intel_iommu=off "*) policy=off ;;
  *" iommu.passthrough=1 "* | *" iommu=pt "*) policy=passthrough ;;
  *" iommu.strict=0 "*) policy=lazy ;;
  *) policy=strict ;;
esac
mode="strict mode"; type=DMA; domain=Translated
case $policy in
  lazy) mode="lazy mode"; type=DMA-FQ ;;
  passthrough) type=identity; domain=Passthrough ;;
esac
rm -rf "$root/sys/kernel/iommu_groups" "$root/sys/class/iommu"
mkdir -p "$root/sys/kernel/iommu_groups" "$root/sys/class/iommu" "$root/var/log"
{
  echo "[    0.000000] Linux version 6.1.0-fake (iommuvm test) #1 SMP"
  echo "[    0.000000] Command line: $cmdline"
  if [ "$policy" = off ]; then
    echo "[    0.010000] DMAR: IOMMU disabled"
  else
    echo "[    0.010000] DMAR: IOMMU enabled"
    echo "[    1.000000] iommu: Default domain type: $domain (set via kernel command line)"
    [ "$policy" = passthrough ] || echo "[    1.000001] iommu: DMA domain TLB invalidation policy: $mode (set via kernel command line)"
    echo "[    1.100000] DMAR: Intel(R) Virtualization Technology for Directed I/O"
  fi
} > "$root/var/log/dmesg"
if [ "$policy" != off ]; then
  for g in 0 1 2; do
    mkdir -p "$root/sys/kernel/iommu_groups/$g/devices"
    echo "$type" > "$root/sys/kernel/iommu_groups/$g/type"
  done
  mkdir -p "$root/sys/class/iommu/dmar0"
fi
# The "reboot" itself, detached so that it outlives this session: every session and sshd
# die, then the machine has a new boot id; the test's supervisor starts sshd again.
if [ -n "$pidfile" ]; then
  pid=$(cat "$pidfile")
  setsid sh -c 'sleep 0.3; pkill -KILL -P "$1"; kill -KILL "$1"; cat /proc/sys/kernel/random/uuid > "$2"' \
    sh "$pid" "$root/proc/sys/kernel/random/boot_id" </dev/null >/dev/null 2>&1 &
else
  setsid sh -c 'sleep 0.3; cat /proc/sys/kernel/random/uuid > "$1"' \
    sh "$root/proc/sys/kernel/random/boot_id" </dev/null >/dev/null 2>&1 &
fi
