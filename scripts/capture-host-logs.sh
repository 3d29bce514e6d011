#!/usr/bin/env bash
# Capture the host VM's boot evidence under each host IOMMU policy, for tests/data/dmesg:
# the whole kernel log (dmesg), /proc/cmdline and the IOMMU group types, one boot per policy.
# The VM of scripts/host-vm.sh must be running. Each policy is booted by kexec (the running
# kernel and initrd, the command line of this boot with the IOMMU parameters replaced), the
# default one (lazy) also through GRUB (the boot the VM is in when it was just started).
#   scripts/capture-host-logs.sh OUT_DIR
# Writes OUT_DIR/intel-host-{grub-lazy,strict,lazy,passthrough,off}.{txt,cmdline,groups}
# and leaves the VM in a plain reboot (its default entry).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: capture-host-logs.sh OUT_DIR}
mkdir -p "$out"
vm() { "$here/host-vm.sh" ssh "$@"; }

capture() {  # NAME
  vm dmesg > "$out/$1.txt"
  vm cat /proc/cmdline > "$out/$1.cmdline"
  vm 'cd /sys/kernel/iommu_groups 2>/dev/null && for g in *; do [ -e "$g/type" ] || continue; printf "%s %s\n" "$g" "$(cat "$g/type")"; done; exit 0' \
    > "$out/$1.groups"
  echo "captured $1: $(wc -l < "$out/$1.txt") kernel log lines, groups: $(tr '\n' ' ' < "$out/$1.groups")"
}

wait_new_boot() {  # OLD_BOOT_ID
  for _ in $(seq 1 240); do
    id=$(vm cat /proc/sys/kernel/random/boot_id 2>/dev/null || true)
    if [ -n "$id" ] && [ "$id" != "$1" ]; then return 0; fi
    sleep 2
  done
  echo "capture-host-logs.sh: the VM did not come back" >&2
  exit 1
}

boot_id=$(vm cat /proc/sys/kernel/random/boot_id)
# Start from the default entry, booted by GRUB (BOOT_IMAGE= on the command line).
if ! vm cat /proc/cmdline | grep -q BOOT_IMAGE=; then
  vm systemctl reboot || true
  wait_new_boot "$boot_id"
  boot_id=$(vm cat /proc/sys/kernel/random/boot_id)
fi
capture intel-host-grub-lazy
base=$(vm cat /proc/cmdline | tr ' ' '\n' |
  grep -Ev '^(BOOT_IMAGE=|intel_iommu=|iommu=|iommu\.strict=|iommu\.passthrough=)' | tr '\n' ' ')
for p in strict lazy passthrough off; do
  case $p in
    strict) params="intel_iommu=on iommu.strict=1 iommu.passthrough=0" ;;
    lazy) params="intel_iommu=on iommu.strict=0 iommu.passthrough=0" ;;
    passthrough) params="intel_iommu=on iommu.passthrough=1" ;;
    off) params="intel_iommu=off" ;;
  esac
  vm "kexec -l /boot/vmlinuz-\$(uname -r) --initrd=/boot/initrd.img-\$(uname -r) --command-line='${base}${params}' && systemctl kexec" || true
  wait_new_boot "$boot_id"
  boot_id=$(vm cat /proc/sys/kernel/random/boot_id)
  capture "intel-host-$p"
done
vm systemctl reboot || true
wait_new_boot "$boot_id"
echo "the VM is back in its default entry: $(vm cat /proc/cmdline)"
