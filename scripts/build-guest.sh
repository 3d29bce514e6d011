#!/usr/bin/env bash
# Build the small guest used by configs/examples/tcg-viommu.yaml, from Debian packages only.
#   scripts/build-guest.sh            build (skipped when already built from the same inputs)
#   scripts/build-guest.sh --force    rebuild
#   scripts/build-guest.sh --print    print the cache directory and exit
#   scripts/build-guest.sh --with-bpftrace [--force|--print]
#                                     the same guest with bpftrace (and the LLVM/clang/bcc libraries it
#                                     loads) for the bpftrace-iommu collector inside the guest, in
#                                     .../guest-bpftrace/ (configs/examples/tcg-viommu-profile.yaml):
#                                     initrd.img 11 MB -> 76 MB, about 200 MB more RAM once unpacked
# Output, under ${IOMMUVM_CACHE:-$HOME/.cache/iommuvm}/guest/:
#   vmlinuz          Debian's linux-image-amd64 kernel (apt-get download + dpkg-deb -x)
#   initrd.img       cpio.gz: busybox, the virtio/ACPI modules, OpenSSH's sshd + sftp-server,
#                    util-linux setsid, redis-server, nginx, an init that configures the NIC
#                    and mounts tracefs
#   id_ed25519[.pub] the controller's key (authorized for root in the guest)
#   known_hosts      empty file for the spec's ssh.known_hosts (the host key changes per build)
#   inputs.sha256    what the build was made from (script, package versions, key)
# The guest takes its address from the kernel command line: iommuvm.ip=192.168.150.2/24
# (optional iommuvm.gw=ADDR, iommuvm.hostname=NAME). Root login by key only.
set -euo pipefail

force=0 bpf=0 print=0
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    --with-bpftrace) bpf=1 ;;
    --print) print=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build-guest.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
name=guest
if [ "$bpf" = 1 ]; then name=guest-bpftrace; fi
if [ "$print" = 1 ]; then echo "${IOMMUVM_CACHE:-$HOME/.cache/iommuvm}/$name"; exit 0; fi

CACHE=${IOMMUVM_CACHE:-$HOME/.cache/iommuvm}
OUT=$CACHE/$name
mkdir -p "$OUT"
start=$(date +%s)

# What the initramfs copies from this machine, and the packages providing it.
declare -A NEED=(
  [/bin/busybox]=busybox-static
  [/usr/sbin/sshd]=openssh-server
  [/usr/lib/openssh/sftp-server]=openssh-sftp-server
  [/usr/bin/ssh-keygen]=openssh-client
  [/usr/bin/setsid]=util-linux
  [/usr/bin/redis-server]=redis-server
  [/usr/bin/redis-cli]=redis-tools
  [/usr/sbin/nginx]=nginx-light
  [/usr/bin/cpio]=cpio
  [/bin/dash]=dash
  [/bin/dd]=coreutils
)
if [ "$bpf" = 1 ]; then NEED[/usr/bin/bpftrace]=bpftrace; fi
missing=()
for f in "${!NEED[@]}"; do [ -x "$f" ] || missing+=("${NEED[$f]}"); done
# busybox (dynamic) may sit at /bin/busybox instead of busybox-static's: insist on static.
if [ -x /bin/busybox ] && ldd /bin/busybox >/dev/null 2>&1; then missing+=(busybox-static); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "build-guest.sh: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "build-guest.sh: missing ${missing[*]}: run scripts/setup.sh --vm-deps (or apt-get install them)" >&2
    exit 1
  fi
fi

# The kernel package linux-image-amd64 points at.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$kpkg" ] || { echo "build-guest.sh: apt-cache knows no linux-image-amd64 (apt-get update?)" >&2; exit 1; }
kver=$(apt-cache policy "$kpkg" | awk '/Candidate:/{print $2}')

# The controller's key.
[ -f "$OUT/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C iommuvm-guest -f "$OUT/id_ed25519"
touch "$OUT/known_hosts"

pkgver() { dpkg-query -W -f='${Package}=${Version} ' "$@" 2>/dev/null || true; }
inputs=$( {
  sha256sum "$0" | cut -d' ' -f1
  echo "$kpkg=$kver"
  pkgver dash redis-tools busybox-static openssh-server openssh-sftp-server util-linux redis-server nginx-light nginx-common libc6
  cat "$OUT/id_ed25519.pub"
  if [ "$bpf" = 1 ]; then pkgver bpftrace libllvm14 libclang1-14 libbpfcc libbpf1; fi
} | sha256sum | cut -d' ' -f1)
if [ "$force" = 0 ] && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.img" ] && [ "$(cat "$OUT/inputs.sha256" 2>/dev/null)" = "$inputs" ]; then
  echo "build-guest.sh: up to date in $OUT"
  exit 0
fi

# Kernel: download the .deb (kept in the cache), unpack it.
debs=$OUT/debs
mkdir -p "$debs"
deb=$(ls "$debs/${kpkg}_"*.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
  echo "build-guest.sh: downloading $kpkg $kver"
  (cd "$debs" && apt-get download "$kpkg" 2>&1 | grep -v 'unsandboxed' || true)
  deb=$(ls "$debs/${kpkg}_"*.deb 2>/dev/null | head -1 || true)
  [ -n "$deb" ] || { echo "build-guest.sh: apt-get download $kpkg failed" >&2; exit 1; }
fi
kroot=$OUT/kernel-root
rm -rf "$kroot"
dpkg-deb -x "$deb" "$kroot"
krel=$(ls "$kroot/lib/modules" | head -1)
cp "$kroot/boot/vmlinuz-$krel" "$OUT/vmlinuz.new"

# The initramfs tree.
root=$(mktemp -d "$OUT/root.XXXXXX")
trap 'rm -rf "$root" "$kroot"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/modules,etc/ssh,etc/acpi/PWRF,root/.ssh,proc,sys,dev,run,tmp,var/log,var/empty,var/lib/redis,usr/share/nginx/html}
chmod 1777 "$root/tmp"

copy_with_libs() {  # copy binaries and the shared libraries ldd names, at the same paths
  for f in "$@"; do
    mkdir -p "$root$(dirname "$f")"
    cp -L "$f" "$root$f"
    ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}' | while read -r lib; do
      [ -e "$root$lib" ] && continue
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  done
}

cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do
  # setsid: util-linux's (busybox's lacks -w); sh: dash, because Debian's busybox ash runs
  # its own applets before PATH, so "setsid -w" would reach busybox's setsid even so.
  # dd: GNU's, whose iflag=nonblock reads /dev/kmsg to its end (the kernel-log audit).
  case "$a" in busybox|setsid|sh|dd) continue ;; esac
  [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
ln -s /bin/busybox "$root/init"
ln -s dash "$root/bin/sh"
if [ "$bpf" = 1 ]; then copy_with_libs /usr/bin/bpftrace; fi
copy_with_libs /bin/dash /bin/dd /usr/sbin/sshd /usr/lib/openssh/sftp-server /usr/bin/setsid /usr/bin/redis-server /usr/bin/redis-cli /usr/sbin/nginx
mkdir -p "$root/etc/nginx" "$root/var/lib/nginx" "$root/var/log/nginx"
[ -f /etc/nginx/mime.types ] && cp /etc/nginx/mime.types "$root/etc/nginx/"

# Modules, in load order (no modules.dep needed): virtio NIC, ACPI power button + evdev
# (so libvirt's ACPI shutdown powers the guest off instead of waiting for a destroy).
mods="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net button evdev"
for m in $mods; do
  f=$(find "$kroot/lib/modules/$krel" -name "$m.ko*" | head -1)
  [ -n "$f" ] || { echo "build-guest.sh: module $m not in $kpkg" >&2; exit 1; }
  case "$f" in
    *.ko.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" > "$root/lib/modules/$m.ko" ;;
    *) cp "$f" "$root/lib/modules/$m.ko" ;;
  esac
done
echo "$mods" > "$root/lib/modules/order"

# Users, sshd, keys.
cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
sshd:x:103:65534::/run/sshd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
redis:x:104:104::/var/lib/redis:/usr/sbin/nologin
www-data:x:33:33::/var/www:/usr/sbin/nologin
EOF
cat > "$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
redis:x:104:
www-data:x:33:
EOF
echo 'root:*:19000:0:99999:7:::' > "$root/etc/shadow"
chmod 600 "$root/etc/shadow"
echo 'passwd: files
group: files
shadow: files
hosts: files' > "$root/etc/nsswitch.conf"
echo '127.0.0.1 localhost' > "$root/etc/hosts"
echo iommuvm-guest > "$root/etc/hostname"
ssh-keygen -q -t ed25519 -N '' -C iommuvm-guest-host -f "$root/etc/ssh/ssh_host_ed25519_key"
cp "$OUT/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
chmod 700 "$root/root/.ssh"; chmod 600 "$root/root/.ssh/authorized_keys"
cat > "$root/etc/ssh/sshd_config" <<'EOF'
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
MaxStartups 100:30:200
MaxSessions 100
ClientAliveInterval 30
Subsystem sftp /usr/lib/openssh/sftp-server
EOF

# busybox init: rcS brings the machine up, a shell on the serial console, poweroff on ACPI.
cat > "$root/etc/inittab" <<'EOF'
::sysinit:/etc/rcS
::respawn:/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config
::respawn:/bin/acpid -f -c /etc/acpi -l /var/log/acpid.log
ttyS0::respawn:-/bin/sh
::shutdown:/bin/sync
EOF
printf '#!/bin/sh\nexec /bin/poweroff\n' > "$root/etc/acpi/PWRF/00000080"
chmod +x "$root/etc/acpi/PWRF/00000080"
cat > "$root/etc/rcS" <<'EOF'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# tracefs: the tracepoints collector counts the guest kernel's IOMMU events there.
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run/sshd
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
chmod 755 /run/sshd
# Two passes: a module whose dependency failed the first time loads on the second.
for pass in 1 2; do
  for m in $(cat /lib/modules/order); do
    grep -q "^$m " /proc/modules || insmod /lib/modules/$m.ko 2>/dev/null
  done
done
ip=; gw=; host=iommuvm-guest
for a in $(cat /proc/cmdline); do
  case "$a" in
    iommuvm.ip=*) ip=${a#iommuvm.ip=} ;;
    iommuvm.gw=*) gw=${a#iommuvm.gw=} ;;
    iommuvm.hostname=*) host=${a#iommuvm.hostname=} ;;
  esac
done
hostname "$host"
ip link set lo up
# The first ethernet NIC (virtio-net); wait for the driver to create it.
nic=
for i in $(seq 1 100); do
  for d in /sys/class/net/*; do
    n=${d##*/}; [ "$n" = lo ] && continue
    [ -e "$d/device" ] && { nic=$n; break; }
  done
  [ -n "$nic" ] && break
  sleep 0.1
done
if [ -n "$nic" ] && [ -n "$ip" ]; then
  ip addr add "$ip" dev "$nic"
  ip link set "$nic" up
  [ -n "$gw" ] && ip route add default via "$gw"
  echo "iommuvm: $nic $ip" > /dev/console
else
  echo "iommuvm: no NIC ($nic) or no iommuvm.ip= ($ip)" > /dev/console
fi
EOF
chmod +x "$root/etc/rcS"
echo '<html><body>iommuvm guest</body></html>' > "$root/usr/share/nginx/html/index.html"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -6) > "$OUT/initrd.img.new"
mv "$OUT/vmlinuz.new" "$OUT/vmlinuz"
mv "$OUT/initrd.img.new" "$OUT/initrd.img"
echo "$inputs" > "$OUT/inputs.sha256"
# The host key changed: forget the old one.
: > "$OUT/known_hosts"
chmod 755 "$CACHE" "$OUT"; chmod 644 "$OUT/vmlinuz" "$OUT/initrd.img"
echo "build-guest.sh: $kpkg ($krel) in $OUT: vmlinuz $(du -h "$OUT/vmlinuz" | cut -f1), initrd.img $(du -h "$OUT/initrd.img" | cut -f1), $(( $(date +%s) - start )) s"
