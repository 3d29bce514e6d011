#!/usr/bin/env bash
# libvirtd + virtlogd without a service manager, and the tap device the TCG guest uses.
#   scripts/libvirtd.sh start    start virtlogd and libvirtd (unless already running) and create the tap
#   scripts/libvirtd.sh stop     stop the daemons this script started; remove the tap
#   scripts/libvirtd.sh status   exit 0 when libvirtd answers on qemu:///system and the tap exists
# Settings (environment):
#   IOMMUVM_TAP=iommuvm-tap0          tap device name (the domain template names it)
#   IOMMUVM_TAP_ADDR=192.168.150.1/24 host address on the tap (the guest is .2, from its cmdline)
#   IOMMUVM_STATE=/run/iommuvm        pid files and daemon logs
# When systemd (or another manager) already runs libvirtd, the daemons are left alone.
# Why a tap: QEMU's user-mode networking (slirp) stalled under redis-benchmark load on this
# kind of machine; a pre-created tap (<interface type='ethernet'>, managed='no') needs no
# bridge and no libvirt network (dnsmasq) and gives the host a plain route to the guest.
set -euo pipefail

TAP=${IOMMUVM_TAP:-iommuvm-tap0}
ADDR=${IOMMUVM_TAP_ADDR:-192.168.150.1/24}
STATE=${IOMMUVM_STATE:-/run/iommuvm}

[ "$(id -u)" = 0 ] || { echo "libvirtd.sh: needs root (qemu:///system, tap devices)" >&2; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
answers() { timeout 10 virsh -c qemu:///system version >/dev/null 2>&1; }

start_daemon() {  # NAME BINARY ARGS...
  local name=$1 bin=$2; shift 2
  if alive "$STATE/$name.pid"; then return 0; fi
  if pgrep -x "$name" >/dev/null; then
    echo "libvirtd.sh: $name already runs (not started by this script); leaving it"
    return 0
  fi
  setsid "$bin" "$@" >>"$STATE/$name.log" 2>&1 </dev/null &
  echo $! > "$STATE/$name.pid"
  echo "libvirtd.sh: started $name (pid $!)"
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

make_tap() {
  if ! ip link show "$TAP" >/dev/null 2>&1; then
    modprobe tun 2>/dev/null || true
    ip tuntap add dev "$TAP" mode tap
    echo "libvirtd.sh: created tap $TAP"
  fi
  ip addr show dev "$TAP" | grep -q "inet ${ADDR%/*}/" || ip addr add "$ADDR" dev "$TAP"
  ip link set "$TAP" up
}

case "${1:-}" in
  start)
    mkdir -p "$STATE" /run/libvirt /var/log/libvirt/qemu
    # Daemons need their binaries; say how to get them.
    for b in /usr/sbin/libvirtd /usr/sbin/virtlogd /usr/bin/qemu-system-x86_64; do
      [ -x "$b" ] || { echo "libvirtd.sh: $b missing: scripts/setup.sh --vm-deps" >&2; exit 1; }
    done
    start_daemon virtlogd /usr/sbin/virtlogd
    start_daemon libvirtd /usr/sbin/libvirtd
    for _ in $(seq 1 100); do answers && break; sleep 0.2; done
    answers || { echo "libvirtd.sh: libvirtd does not answer on qemu:///system; see $STATE/libvirtd.log" >&2; exit 1; }
    make_tap
    echo "libvirtd.sh: qemu:///system ready; tap $TAP at $ADDR"
    ;;
  stop)
    stop_daemon libvirtd
    stop_daemon virtlogd
    if ip link show "$TAP" >/dev/null 2>&1; then ip link del "$TAP"; echo "libvirtd.sh: removed tap $TAP"; fi
    ;;
  status)
    rc=0
    for d in virtlogd libvirtd; do
      if alive "$STATE/$d.pid"; then echo "$d: running (pid $(cat "$STATE/$d.pid"), started here)"
      elif pgrep -x "$d" >/dev/null; then echo "$d: running (not started here)"
      else echo "$d: not running"; rc=1; fi
    done
    if answers; then echo "qemu:///system: answers"; else echo "qemu:///system: no answer"; rc=1; fi
    if ip link show "$TAP" >/dev/null 2>&1; then echo "tap $TAP: $(ip -br addr show dev "$TAP" | awk '{print $2, $3}')"
    else echo "tap $TAP: missing"; rc=1; fi
    exit $rc
    ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
