#!/usr/bin/env bash
# Throughput of satoshipress-content against nginx serving the same JSON bodies as static
# files, side by side in one run, both on 127.0.0.1, both driven by wrk.
#
#   bench/server.sh ["CONNECTIONS ..."] [SECONDS] [ROUNDS]      (defaults: "1 64 256" 10 3)
#
# Installs nginx and wrk (Debian) if missing. For each connection count prints requests/s,
# p50 and p99 latency of each round, the medians, and the ratio satoshipress/nginx. Both
# servers log nothing per request.
set -euo pipefail
cd "$(dirname "$0")/.."
CONN_LIST=${1:-"1 64 256"}
SECS=${2:-10}
ROUNDS=${3:-3}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
fi
cargo build --release --locked -q --bin satoshipress --bin satoshipress-content

WORK=$(mktemp -d)
chmod 755 "$WORK"
cleanup() {
  [ -n "${SP_PID:-}" ] && kill "$SP_PID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export SATOSHIPRESS_KEY=KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=
cp -r example-site "$WORK/site"
rm -rf "$WORK/site/public" "$WORK/site/bundle" "$WORK/site/satoshipress.lock" "$WORK/site/satoshipress.key"
./target/release/satoshipress build "$WORK/site" --quiet

# The good with the largest paid section.
GOOD=$(./target/release/satoshipress goods list "$WORK/site" --json --show-secrets |
  python3 -c 'import json,sys; g=max(json.load(sys.stdin), key=lambda g: g["price"]); print(g["id"], g["secret"])')
ID=${GOOD% *}
SECRET=${GOOD#* }

./target/release/satoshipress-content --bundle "$WORK/site/bundle/content.spb" --listen 127.0.0.1:0 \
  --no-access-log --no-watch > "$WORK/sp.out" 2> "$WORK/sp.err" &
SP_PID=$!
for _ in $(seq 50); do grep -q listening "$WORK/sp.out" 2>/dev/null && break; sleep 0.1; done
SP_URL="$(sed -n 's/^listening on //p' "$WORK/sp.out")/satoshipay-content/$ID?paymentCert=$SECRET"

# nginx serves the very bytes satoshipress-content answers with.
mkdir -p "$WORK/root/satoshipay-content"
curl -sf "$SP_URL" > "$WORK/root/satoshipay-content/$ID"
chmod -R a+rX "$WORK/root"
NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type application/json;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/root;
    location / { add_header Cache-Control "private, no-store"; }
  }
}
CONF
nginx -c "$WORK/nginx.conf" -p "$WORK"
sleep 0.3
NG_URL="http://127.0.0.1:$NGINX_PORT/satoshipay-content/$ID"
[ "$(curl -sf "$NG_URL")" = "$(curl -sf "$SP_URL")" ] || { echo "nginx and satoshipress answer differently" >&2; exit 1; }

# wrk → "requests/s p50_ms p99_ms non2xx"
run_wrk() {
  local threads=2
  [ "$2" -lt 2 ] && threads=1
  wrk -t"$threads" -c"$2" -d"${SECS}s" --latency "$1" | awk '
    function ms(v) { if (v ~ /us$/) { sub(/us/, "", v); return v / 1000 } if (v ~ /ms$/) { sub(/ms/, "", v); return v } sub(/s/, "", v); return v * 1000 }
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /Non-2xx/ { bad = $NF }
    END { printf "%s %s %s %s\n", rps, p50, p99, bad + 0 }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "machine: $(nproc) cores; wrk, ${SECS}s per run; $ROUNDS rounds, alternating; medians"
echo "body: $(wc -c < "$WORK/root/satoshipay-content/$ID") bytes of JSON"
printf '%-6s %-22s %10s %9s %9s\n' conns server req/s p50_ms p99_ms
for CONNS in $CONN_LIST; do
  : > "$WORK/sp.txt"; : > "$WORK/ng.txt"
  for _ in $(seq "$ROUNDS"); do
    run_wrk "$SP_URL" "$CONNS" >> "$WORK/sp.txt"
    run_wrk "$NG_URL" "$CONNS" >> "$WORK/ng.txt"
  done
  for f in sp ng; do
    name=satoshipress-content; [ $f = ng ] && name="nginx (static file)"
    printf '%-6s %-22s %10.0f %9.2f %9.2f\n' "$CONNS" "$name" \
      "$(cut -d' ' -f1 "$WORK/$f.txt" | median)" "$(cut -d' ' -f2 "$WORK/$f.txt" | median)" "$(cut -d' ' -f3 "$WORK/$f.txt" | median)"
  done
  python3 -c "print(f'{$CONNS:<6} ratio satoshipress/nginx = {$(cut -d' ' -f1 "$WORK/sp.txt" | median)/$(cut -d' ' -f1 "$WORK/ng.txt" | median):.2f}x requests/s')"
  awk '{ bad += $4 } END { if (bad) print "non-2xx answers: " bad }' "$WORK/sp.txt" "$WORK/ng.txt"
done
