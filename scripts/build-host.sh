#!/usr/bin/env bash
# Build a small bootable Debian 12 disk that iommuvm drives as a testbed *host* (docs/host-vm.md):
# Debian's kernel, systemd, GRUB installed on the disk's MBR, openssh-server, kexec-tools,
# redis-server, nginx-light, memcached, and libvirtd with QEMU (a controller elsewhere defines its
# guests there over SSH), from the Debian archive apt on this machine uses.
#   scripts/build-host.sh            build (skipped when already built from the same inputs)
#   scripts/build-host.sh --force    rebuild
#   scripts/build-host.sh --print    print the cache directory and exit
# Output, under ${IOMMUVM_CACHE:-$HOME/.cache/iommuvm}/host/:
#   disk.raw          4 GiB sparse raw disk: MBR, one ext4 partition, GRUB in the MBR gap
#   id_ed25519[.pub]  the controller's key (authorized for root on the VM)
#   known_hosts       the VM's host key for 192.168.151.2 (host keys are verified)
#   build.txt         build time and sizes; inputs.sha256: what the build was made from
# No loop device is needed: mmdebstrap builds the tree, mke2fs -d makes the file system, sfdisk
# partitions the file, and a first boot by direct kernel boot (QEMU/TCG) runs grub-install and
# update-grub on the VM's own disk, then powers off.
# The VM: management NIC 52:54:00:51:00:02 = 192.168.151.2/24, data NIC 52:54:00:52:00:02 =
# 192.168.152.2/24 (systemd-networkd); scripts/host-vm.sh boots it in its network namespace.
set -euo pipefail

force=0
case "${1:-}" in
  --force) force=1 ;;
  --print) echo "${IOMMUVM_CACHE:-$HOME/.cache/iommuvm}/host"; exit 0 ;;
  -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
  "") ;;
  *) echo "build-host.sh: unknown option $1" >&2; exit 2 ;;
esac

CACHE=${IOMMUVM_CACHE:-$HOME/.cache/iommuvm}
OUT=$CACHE/host
mkdir -p "$OUT"
start=$(date +%s)

for tool in mmdebstrap sfdisk mke2fs qemu-system-x86_64; do
  command -v "$tool" >/dev/null || { echo "build-host.sh: $tool missing: run scripts/setup.sh --vm-deps" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "build-host.sh: needs root (mmdebstrap in root mode keeps file owners)" >&2; exit 1; }

# The packages of the VM. grub-pc's postinst skips grub-install without a core.img (a chroot):
# the first boot installs it. kexec-tools must not take over `systemctl reboot`. libvirtd's qemu
# driver needs a QEMU to define an x86_64 domain (mmdebstrap installs no Recommends).
PKGS=linux-image-amd64,systemd-sysv,udev,dbus,grub-pc,initramfs-tools,openssh-server,kexec-tools,redis-server,nginx-light,memcached,iproute2,procps,kmod,e2fsprogs,pciutils,libvirt-daemon-system,libvirt-clients,qemu-system-x86
SUITE=bookworm
# The Debian archive apt on this machine uses (deb822 or one-line sources), Debian entries only.
sources=$(mktemp)
trap 'rm -f "$sources"' EXIT
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  case "$f" in
    *.sources) awk 'BEGIN{RS="";ORS="\n\n"} /URIs:[^\n]*debian\.org/' "$f" >> "$sources" ;;
    *) grep -E '^deb .*debian\.org' "$f" >> "$sources" || true ;;
  esac
done
[ -s "$sources" ] || { echo "build-host.sh: no Debian archive in /etc/apt/sources.list*" >&2; exit 1; }

[ -f "$OUT/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C iommuvm-host -f "$OUT/id_ed25519"
inputs=$( { sha256sum "$0" | cut -d' ' -f1; echo "$PKGS"; cat "$sources"; cat "$OUT/id_ed25519.pub";
  apt-cache policy linux-image-amd64 | awk '/Candidate:/{print $2}'; } | sha256sum | cut -d' ' -f1)
if [ "$force" = 0 ] && [ -s "$OUT/disk.raw" ] && [ "$(cat "$OUT/inputs.sha256" 2>/dev/null)" = "$inputs" ]; then
  echo "build-host.sh: up to date in $OUT"
  exit 0
fi

work=$(mktemp -d "$OUT/build.XXXXXX")
trap 'rm -f "$sources"; rm -rf "$work"' EXIT
root=$work/root
ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)

t0=$(date +%s)
mmdebstrap --mode=root --variant=minbase --include="$PKGS" \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --essential-hook='echo "kexec-tools kexec-tools/load_kexec boolean false" | chroot "$1" debconf-set-selections' \
  --essential-hook='echo "grub-pc grub-pc/install_devices multiselect /dev/vda" | chroot "$1" debconf-set-selections' \
  "$SUITE" "$root" "$sources"
t_debootstrap=$(( $(date +%s) - t0 ))

# --- configuration of the tree ---
echo iommuvm-host > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 iommuvm-host\n' > "$root/etc/hosts"
echo "UUID=$ROOT_UUID / ext4 errors=remount-ro 0 1" > "$root/etc/fstab"
mkdir -p "$root/root/.ssh"
cp "$OUT/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
chmod 700 "$root/root/.ssh"; chmod 600 "$root/root/.ssh/authorized_keys"
cat > "$root/etc/ssh/sshd_config.d/iommuvm.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
MaxStartups 100:30:200
MaxSessions 100
EOF
mkdir -p "$root/etc/systemd/network"
cat > "$root/etc/systemd/network/10-mgmt.network" <<'EOF'
[Match]
MACAddress=52:54:00:51:00:02
[Network]
Address=192.168.151.2/24
EOF
cat > "$root/etc/systemd/network/20-data.network" <<'EOF'
[Match]
MACAddress=52:54:00:52:00:02
[Network]
Address=192.168.152.2/24
EOF
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
# iommuvm starts its own servers on the ports of the spec.
for s in redis-server nginx memcached; do chroot "$root" systemctl disable "$s.service" >/dev/null 2>&1 || true; done
# libvirtd stays socket-activated (it runs only while a controller talks to it); its default NAT
# network would add a bridge and dnsmasq to every boot of a machine under measurement: not started.
rm -f "$root/etc/libvirt/qemu/networks/autostart/default.xml"
for s in libvirt-guests; do chroot "$root" systemctl disable "$s.service" >/dev/null 2>&1 || true; done
# Serial console for GRUB and the kernel, as cloud images set it: in a drop-in, which iommuvm's
# grub method must then edit (the assignment in effect is the drop-in's).
sed -i 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/' "$root/etc/default/grub"
mkdir -p "$root/etc/default/grub.d"
cat > "$root/etc/default/grub.d/50-cloudimg-settings.cfg" <<'EOF'
# Serial console and a short menu, as cloud images set them (scripts/build-host.sh).
GRUB_TERMINAL="serial console"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_CMDLINE_LINUX_DEFAULT="console=ttyS0,115200 intel_iommu=on"
EOF
# The first boot: install GRUB on the VM's own disk, generate grub.cfg, power off.
cat > "$root/usr/local/sbin/iommuvm-firstboot" <<'EOF'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
mount -o remount,rw /
if grub-install --target=i386-pc /dev/vda && update-grub; then
  echo IOMMUVM-FIRSTBOOT-OK > /dev/ttyS0
else
  echo IOMMUVM-FIRSTBOOT-FAILED > /dev/ttyS0
fi
rm -f /usr/local/sbin/iommuvm-firstboot
# Power off: sync, emergency read-only remount (the root is busy: this script), then off; init
# must not exit meanwhile (a panic; panic=1 on the command line turns one into QEMU's exit).
sync; echo u > /proc/sysrq-trigger; sleep 2
echo o > /proc/sysrq-trigger; sleep 60
EOF
chmod 755 "$root/usr/local/sbin/iommuvm-firstboot"
rm -f "$root/etc/machine-id"; : > "$root/etc/machine-id"   # systemd makes one on the first real boot
krel=$(ls "$root/lib/modules" | head -1)
cp "$root/boot/vmlinuz-$krel" "$work/vmlinuz"; cp "$root/boot/initrd.img-$krel" "$work/initrd.img"
hostkey=$(cut -d' ' -f1-2 "$root/etc/ssh/ssh_host_ed25519_key.pub")
apt_clean() { rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*; }
apt_clean

# --- the disk: MBR, partition 1 from 1 MiB to the end, ext4 made from the tree ---
DISK_MIB=4096
t1=$(date +%s)
mke2fs -q -t ext4 -U "$ROOT_UUID" -L iommuvm-root -d "$root" "$work/root.ext4" "$(( DISK_MIB - 1 ))M"
truncate -s "${DISK_MIB}M" "$work/disk.raw"
echo 'label: dos
start=2048, type=83, bootable' | sfdisk -q "$work/disk.raw"
dd if="$work/root.ext4" of="$work/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$work/root.ext4"

# --- first boot (direct kernel boot) ---
timeout 900 qemu-system-x86_64 -machine q35 -accel tcg -smp 2 -m 1024 -nographic -no-reboot \
  -drive file="$work/disk.raw",format=raw,if=virtio \
  -kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
  -append "root=UUID=$ROOT_UUID ro console=ttyS0,115200 panic=1 init=/usr/local/sbin/iommuvm-firstboot" \
  -serial file:"$work/firstboot.log" -monitor none -display none -net none >/dev/null 2>&1 || true
if ! grep -q IOMMUVM-FIRSTBOOT-OK "$work/firstboot.log"; then
  echo "build-host.sh: the first boot did not install GRUB; its console:" >&2
  tail -40 "$work/firstboot.log" >&2
  exit 1
fi
t_disk=$(( $(date +%s) - t1 ))

mv "$work/disk.raw" "$OUT/disk.raw"
echo "192.168.151.2 $hostkey" > "$OUT/known_hosts"
echo "$inputs" > "$OUT/inputs.sha256"
echo "$ROOT_UUID" > "$OUT/root-uuid"
total=$(( $(date +%s) - start ))
used=$(du -m "$OUT/disk.raw" | cut -f1)
{
  echo "built: $(date -u +%FT%TZ)"
  echo "kernel: $krel"
  echo "mmdebstrap_s: $t_debootstrap"
  echo "disk_and_first_boot_s: $t_disk"
  echo "total_s: $total"
  echo "disk_apparent_mib: $DISK_MIB"
  echo "disk_used_mib: $used"
} > "$OUT/build.txt"
chmod 755 "$CACHE" "$OUT"
echo "build-host.sh: $OUT/disk.raw ($krel): ${used} MiB used of ${DISK_MIB} MiB; mmdebstrap ${t_debootstrap} s, disk + first boot ${t_disk} s, total ${total} s"
