#!/bin/sh
# Simulated boot of a test machine whose root prefix is $1 with the kernel command line $3
# (used by fake-reboot.sh and fake-kexec.sh; see tests/e2e/test_campaign.cpp):
#  - ROOT/proc/cmdline is the command line;
#  - the kernel log (ROOT/var/log/dmesg), the IOMMU group types and /sys/class/iommu are those
#    of a real boot under the policy that command line asks for (captured, see below);
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
# What the machine shows after the boot is a real boot's: the kernel log and the IOMMU group
# types captured from the host VM booted with that policy (tests/data/dmesg/intel-host-*,
# scripts/capture-host-logs.sh), not lines written here. This script's only rule is which
# captured boot a command line replays (the case above).
data=$(cd "$(dirname "$0")" && pwd)/dmesg
rm -rf "$root/sys/kernel/iommu_groups" "$root/sys/class/iommu"
mkdir -p "$root/sys/kernel/iommu_groups" "$root/sys/class/iommu" "$root/var/log"
cp "$data/intel-host-$policy.txt" "$root/var/log/dmesg"
while read -r g t; do
  mkdir -p "$root/sys/kernel/iommu_groups/$g/devices"
  printf '%s\n' "$t" > "$root/sys/kernel/iommu_groups/$g/type"
done < "$data/intel-host-$policy.groups"
[ -s "$data/intel-host-$policy.groups" ] && mkdir -p "$root/sys/class/iommu/dmar0"
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
