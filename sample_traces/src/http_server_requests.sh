#!/bin/sh
# Sample workload: Python's multi-threaded http.server (ThreadingHTTPServer) on 127.0.0.1
# answers four requests from curl, then is stopped. Bounded: the server is killed at the end and
# curl gives up after 5 s. Recorded for sample_traces/http-server.trace.json.
set -eu
port=${1:-8765}
dir=$(dirname "$0")
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$dir" "$port" >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
i=0
until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; do
  i=$((i + 1)); [ "$i" -lt 50 ] || { echo "server did not start" >&2; exit 1; }
  sleep 0.1
done
for f in hello32.c wordcount.py http_server_requests.sh; do
  curl -s --max-time 5 -o /dev/null -w "%{http_code} $f\n" "http://127.0.0.1:$port/$f"
done
kill "$server"
wait "$server" 2>/dev/null || true
trap - EXIT
