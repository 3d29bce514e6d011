#!/bin/sh
# A stand-in for kexec(8) on a test machine whose root prefix is $1 (sshd pid file $2, may
# be empty); the other arguments are kexec's. Every call is appended to ROOT/var/log/kexec.log,
# one argument per line, then an empty line.
#   -l KERNEL [--initrd=FILE] --command-line=TEXT   checks the files exist, keeps TEXT as
#                                                   the loaded command line (ROOT/run/kexec-loaded)
#   -e                                              "boots" it with fake-boot.sh
set -eu
root=$1 pidfile=$2
shift 2
mkdir -p "$root/var/log" "$root/run"
{ printf '%s\n' "$@"; echo; } >> "$root/var/log/kexec.log"
case ${1:-} in
  -l)
    kernel=$2 initrd="" cmdline=""
    shift 2
    for a in "$@"; do
      case $a in
        --initrd=*) initrd=${a#--initrd=} ;;
        --command-line=*) cmdline=${a#--command-line=} ;;
        *) echo "kexec: unexpected argument $a" >&2; exit 1 ;;
      esac
    done
    [ -f "$kernel" ] || { echo "kexec: cannot open $kernel" >&2; exit 1; }
    [ -z "$initrd" ] || [ -f "$initrd" ] || { echo "kexec: cannot open $initrd" >&2; exit 1; }
    printf '%s\n' "$cmdline" > "$root/run/kexec-loaded"
    ;;
  -e)
    [ -f "$root/run/kexec-loaded" ] || { echo "kexec: no kernel loaded" >&2; exit 1; }
    cmdline=$(cat "$root/run/kexec-loaded")
    rm -f "$root/run/kexec-loaded"
    exec sh "$(dirname "$0")/fake-boot.sh" "$root" "$pidfile" "$cmdline"
    ;;
  *) echo "kexec: unsupported call: $*" >&2; exit 1 ;;
esac
