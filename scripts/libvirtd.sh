#!/usr/bin/env bash
# libvirtd + virtlogd without a service manager, inside a network namespace of their own that
# holds the tap device the TCG guest uses. Nothing with a non-loopback address appears in the
# root namespace: the tap and its address live in the namespace, libvirtd runs there (so QEMU
# opens the tap there), and whatever talks to the guest (iommuvm run, ssh, load generators) runs
# there too, through `scripts/libvirtd.sh exec CMD...` or `ip netns exec iommuvm CMD...`.
#   scripts/libvirtd.sh start        create the namespace and the tap, start virtlogd and libvirtd in it
#   scripts/libvirtd.sh stop         stop the daemons this script started (and their guests); delete the namespace
#   scripts/libvirtd.sh status       exit 0 when libvirtd answers on qemu:///system and the tap is up in the namespace
#   scripts/libvirtd.sh exec CMD...  run CMD inside the namespace (as `ip netns exec NS CMD...`)
# Settings (environment):
#   IOMMUVM_NETNS=iommuvm             network namespace (ip netns; /run/netns/NAME)
#   IOMMUVM_TAP=iommuvm-tap0          tap device name (the domain template names it)
#   IOMMUVM_TAP_ADDR=192.168.150.1/24 the controller's address on the tap, inside the namespace (the guest is .2)
#   IOMMUVM_STATE=/run/iommuvm        pid files and daemon logs
# libvirt's socket (/run/libvirt/libvirt-sock) is a file, so virsh and iommuvm reach qemu:///system
# from either namespace; only the guest's network is confined to the namespace.
# Why a tap: QEMU's user-mode networking (slirp) stalled under redis-benchmark load on this
# kind of machine; a pre-created tap (<interface type='ethernet'>, managed='no') needs no
# bridge and no libvirt network (dnsmasq) and gives the namespace a plain route to the guest.
set -euo pipefail

NS=${IOMMUVM_NETNS:-iommuvm}
TAP=${IOMMUVM_TAP:-iommuvm-tap0}
ADDR=${IOMMUVM_TAP_ADDR:-192.168.150.1/24}
STATE=${IOMMUVM_STATE:-/run/iommuvm}

[ "$(id -u)" = 0 ] || { echo "libvirtd.sh: needs root (qemu:///system, network namespaces, tap devices)" >&2; exit 1; }
case "$NS" in ''|*/*|.|..) echo "libvirtd.sh: bad namespace name '$NS'" >&2; exit 2 ;; esac

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
answers() { timeout 10 virsh -c qemu:///system version >/dev/null 2>&1; }
have_ns() { [ -e "/run/netns/$NS" ]; }
# The network namespace of a process, as its inode, and the namespace's.
ns_of_pid() { stat -L -c %i "/proc/$1/ns/net" 2>/dev/null; }
ns_inode() { stat -L -c %i "/run/netns/$NS" 2>/dev/null; }

start_daemon() {  # NAME BINARY ARGS...
  local name=$1 bin=$2; shift 2
  if alive "$STATE/$name.pid"; then return 0; fi
  local other; other=$(pgrep -x "$name" | head -1 || true)
  if [ -n "$other" ]; then
    if [ "$(ns_of_pid "$other")" = "$(ns_inode)" ]; then
      echo "libvirtd.sh: $name already runs in namespace $NS (not started by this script); leaving it"
      return 0
    fi
    # A daemon outside the namespace would start QEMU there, where the tap is not.
    echo "libvirtd.sh: $name (pid $other) already runs outside namespace $NS; stop it first" \
         "(systemctl stop $name $name.socket, or scripts/libvirtd.sh stop)" >&2
    exit 1
  fi
  # nsenter --net enters only the network namespace: the daemon keeps the machine's /sys
  # (cgroups), unlike `ip netns exec`, which remounts /sys for the namespace.
  setsid nsenter --net="/run/netns/$NS" "$bin" "$@" >>"$STATE/$name.log" 2>&1 </dev/null &
  echo $! > "$STATE/$name.pid"
  echo "libvirtd.sh: started $name (pid $!) in namespace $NS"
}

stop_daemon() {
  local name=$1
  if alive "$STATE/$name.pid"; then
    local pid; pid=$(cat "$STATE/$name.pid")
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "libvirtd.sh: stopped $name (pid $pid)"
  fi
  rm -f "$STATE/$name.pid"
}

make_ns() {
  if ! have_ns; then
    ip netns add "$NS"
    echo "libvirtd.sh: created network namespace $NS"
  fi
  ip -n "$NS" link set lo up
  if ! ip -n "$NS" link show "$TAP" >/dev/null 2>&1; then
    modprobe tun 2>/dev/null || true
    ip -n "$NS" tuntap add dev "$TAP" mode tap
    echo "libvirtd.sh: created tap $TAP in namespace $NS"
  fi
  ip -n "$NS" addr show dev "$TAP" | grep -q "inet ${ADDR%/*}/" || ip -n "$NS" addr add "$ADDR" dev "$TAP"
  ip -n "$NS" link set "$TAP" up
}

case "${1:-}" in
  start)
    mkdir -p "$STATE" /run/libvirt /var/log/libvirt/qemu
    # Daemons need their binaries; say how to get them.
    for b in /usr/sbin/libvirtd /usr/sbin/virtlogd /usr/bin/qemu-system-x86_64 /usr/bin/nsenter; do
      [ -x "$b" ] || { echo "libvirtd.sh: $b missing: scripts/setup.sh --vm-deps" >&2; exit 1; }
    done
    # A tap left in the root namespace by an older version of this script would give the root
    # namespace the guest's subnet: remove it.
    if ip link show "$TAP" >/dev/null 2>&1; then
      ip link del "$TAP"
      echo "libvirtd.sh: removed $TAP from the root namespace (it belongs in namespace $NS)"
    fi
    make_ns
    start_daemon virtlogd /usr/sbin/virtlogd
    start_daemon libvirtd /usr/sbin/libvirtd
    for _ in $(seq 1 100); do answers && break; sleep 0.2; done
    answers || { echo "libvirtd.sh: libvirtd does not answer on qemu:///system; see $STATE/libvirtd.log" >&2; exit 1; }
    echo "libvirtd.sh: qemu:///system ready; tap $TAP at $ADDR in namespace $NS (run clients with: scripts/libvirtd.sh exec CMD)"
    ;;
  stop)
    if alive "$STATE/libvirtd.pid" && answers; then
      # Guests this libvirtd started run in the namespace; power them off before it goes.
      for d in $(virsh -c qemu:///system list --name 2>/dev/null); do
        virsh -c qemu:///system destroy "$d" >/dev/null 2>&1 && echo "libvirtd.sh: destroyed guest $d"
      done
    fi
    stop_daemon libvirtd
    stop_daemon virtlogd
    if have_ns; then
      # Processes still inside (a client left running) would keep the namespace alive: end them.
      for p in $(ip netns pids "$NS" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
      ip netns del "$NS"
      echo "libvirtd.sh: deleted network namespace $NS (and tap $TAP)"
    fi
    ;;
  status)
    rc=0
    for d in virtlogd libvirtd; do
      if alive "$STATE/$d.pid"; then echo "$d: running (pid $(cat "$STATE/$d.pid"), started here, namespace $NS)"
      elif pgrep -x "$d" >/dev/null; then echo "$d: running (not started here)"
      else echo "$d: not running"; rc=1; fi
    done
    if answers; then echo "qemu:///system: answers"; else echo "qemu:///system: no answer"; rc=1; fi
    if have_ns && ip -n "$NS" link show "$TAP" >/dev/null 2>&1; then
      echo "tap $TAP in namespace $NS: $(ip -n "$NS" -br addr show dev "$TAP" | awk '{print $2, $3}')"
    else echo "tap $TAP in namespace $NS: missing"; rc=1; fi
    exit $rc
    ;;
  exec)
    shift
    [ $# -gt 0 ] || { echo "libvirtd.sh: exec needs a command" >&2; exit 2; }
    have_ns || { echo "libvirtd.sh: namespace $NS missing: scripts/libvirtd.sh start" >&2; exit 1; }
    exec ip netns exec "$NS" "$@"
    ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
