#!/bin/sh
# Simulated reboot of a test machine whose root prefix is $1 (see tests/e2e/test_campaign.cpp):
# the new kernel command line comes from ROOT/etc/default/grub and its grub.d/*.cfg drop-ins,
# as update-grub + reboot would give it; fake-boot.sh then "boots" it (kernel log, IOMMU groups, new boot id and,
# with sshd's pid file $2, sshd and every session killed as in a reboot).
set -eu
root=$1 pidfile=${2:-}
args=$(
  GRUB_CMDLINE_LINUX="" GRUB_CMDLINE_LINUX_DEFAULT=""
  . "$root/etc/default/grub"
  for f in "$root"/etc/default/grub.d/*.cfg; do   # as grub-mkconfig sources them
    if [ -e "$f" ]; then . "$f"; fi
  done
  echo "$GRUB_CMDLINE_LINUX $GRUB_CMDLINE_LINUX_DEFAULT"
)
exec sh "$(dirname "$0")/fake-boot.sh" "$root" "$pidfile" "BOOT_IMAGE=/boot/vmlinuz-6.1.0-fake root=/dev/vda1 ro $(echo $args)"
