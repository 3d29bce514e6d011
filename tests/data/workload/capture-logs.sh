#!/bin/sh
# Captures the formats users' own scripts keep (redis-benchmark's default and -q output,
# memaslap with --stat_freq, wrk with and without --latency) from the real tools on
# 127.0.0.1, into logs/. Every redis-benchmark parameter set is run three times back to
# back, as --csv, default and -q: redis-benchmark prints one format per run, so the three
# files of a set are three runs with the same parameters (test_workload_parsers compares them).
# Bounded: at most 20000 requests per test. Run from anywhere: sh capture-logs.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)/logs
mkdir -p "$here"
tmp=$(mktemp -d)
chmod 755 "$tmp"
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

rp=$(port)
redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$tmp/redis.log" 2>&1 &
pids="$pids $!"; sleep 0.5
rb() {  # NAME ARGS...: the three formats of one parameter set
  name=$1; shift
  redis-benchmark -h 127.0.0.1 -p "$rp" "$@" --csv >"$here/redis-benchmark-$name-csv.txt"
  redis-benchmark -h 127.0.0.1 -p "$rp" "$@" >"$here/redis-benchmark-$name-default.txt"
  redis-benchmark -h 127.0.0.1 -p "$rp" "$@" -q >"$here/redis-benchmark-$name-q.txt"
}
rb setget -n 20000 -c 20 -d 64 -t set,get
rb pipeline -n 20000 -c 10 -P 16 -t get,set
rb precision -n 10000 -c 50 -d 256 -t set,get,incr --precision 3
rb many -n 10000 -c 5 -P 4 -t ping_inline,set,get,lpush
# on a terminal the progress lines end in \r\n too: through script(1)
script -qc "redis-benchmark -h 127.0.0.1 -p $rp -n 10000 -c 20 -t set,get" /dev/null >"$here/redis-benchmark-tty-default.txt" </dev/null
script -qc "redis-benchmark -h 127.0.0.1 -p $rp -n 10000 -c 20 -t set,get -q" /dev/null >"$here/redis-benchmark-tty-q.txt" </dev/null

mp=$(port)
memcached -p "$mp" -l 127.0.0.1 -t 1 -m 64 -U 0 $( [ "$(id -u)" = 0 ] && echo -u root ) >"$tmp/mc.log" 2>&1 &
pids="$pids $!"; sleep 0.5
memcaslap -s "127.0.0.1:$mp" -t 2s -T 1 -c 8 -X 64 >"$here/memaslap-default.txt" 2>&1
memcaslap -s "127.0.0.1:$mp" -t 3s -T 1 -c 8 -X 64 -S 1s >"$here/memaslap-stat-freq.txt" 2>&1

np=$(port)
mkdir -p "$tmp/nginx/logs" "$tmp/nginx/html"
head -c 4096 /dev/zero | tr '\0' x >"$tmp/nginx/html/index.html"
cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$np; root $tmp/nginx/html; } }
CONF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
pids="$pids $!"; sleep 0.5
wrk -t 1 -c 10 -d 2s "http://127.0.0.1:$np/" >"$here/wrk-default.txt"
wrk -t 1 -c 10 -d 2s --latency "http://127.0.0.1:$np/" >"$here/wrk-latency.txt"
echo "captured into $here"
