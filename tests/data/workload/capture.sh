#!/bin/sh
# Re-captures the raw tool outputs in this folder from the real tools on
# 127.0.0.1 (a few seconds each). Run from anywhere: sh capture.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
lua=$(cd "$here/../../../share/wrk" && pwd)/summary.lua
tmp=$(mktemp -d)
chmod 755 "$tmp"  # nginx workers run as nobody
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# redis-server + redis-benchmark --csv
rp=$(port)
redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$tmp/redis.log" 2>&1 &
pids="$pids $!"; sleep 0.5
redis-benchmark -h 127.0.0.1 -p "$rp" -n 20000 -c 20 -d 64 -t set,get --csv >"$here/redis-benchmark-csv.txt"
redis-benchmark -h 127.0.0.1 -p "$rp" -n 10000 -c 10 -P 16 -t get --csv >"$here/redis-benchmark-csv-get.txt"
# the progress noise goes to stdout too when it is a terminal; capture it through script(1) when present
if command -v script >/dev/null; then
  script -qc "redis-benchmark -h 127.0.0.1 -p $rp -n 20000 -c 20 -t ping_inline,set --csv" /dev/null >"$here/redis-benchmark-csv-tty.txt" </dev/null
fi

# memcached + memcaslap
mp=$(port)
memcached -p "$mp" -l 127.0.0.1 -t 2 -m 64 -U 0 $( [ "$(id -u)" = 0 ] && echo -u root ) >"$tmp/mc.log" 2>&1 &
pids="$pids $!"; sleep 0.5
memcaslap -s "127.0.0.1:$mp" -t 2s -T 1 -c 16 -X 64 >"$here/memaslap.txt" 2>&1

# nginx + wrk
np=$(port)
mkdir -p "$tmp/nginx/logs" "$tmp/nginx/html"
head -c 4096 /dev/zero | tr '\0' x >"$tmp/nginx/html/index.html"
cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_timeout 65;
  server { listen 127.0.0.1:$np; root $tmp/nginx/html; location = /missing { return 404; } location = /slow { limit_rate 100; try_files /index.html =404; } }
}
CONF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
pids="$pids $!"; sleep 0.5
wrk -t 1 -c 10 -d 2s "http://127.0.0.1:$np/" >"$here/wrk.txt"
wrk -t 2 -c 20 -d 2s --latency "http://127.0.0.1:$np/" >"$here/wrk-latency.txt"
wrk -t 1 -c 10 -d 2s --latency -s "$lua" "http://127.0.0.1:$np/" >"$here/wrk-lua.txt"
wrk -t 1 -c 10 -d 2s -s "$lua" "http://127.0.0.1:$np/missing" >"$here/wrk-non2xx.txt"
dead=$(port)
wrk -t 1 -c 4 -d 2s --timeout 1s --latency -s "$lua" "http://127.0.0.1:$np/slow" >"$here/wrk-timeouts.txt"

# iperf3
ip=$(port)
iperf3 -s -p "$ip" -B 127.0.0.1 >"$tmp/iperf.log" 2>&1 &
pids="$pids $!"; sleep 0.5
iperf3 -c 127.0.0.1 -p "$ip" -J -t 2 -P 2 >"$here/iperf3.json"
iperf3 -c 127.0.0.1 -p "$dead" -J -t 1 >"$here/iperf3-refused.json" || true
echo "captured into $here"
