#!/usr/bin/env bash
# Throughput of satoshipress-content against nginx serving the same JSON bodies as static
# files, side by side in one run, both on 127.0.0.1, both driven by wrk.
#
#   bench/server.sh [CONNECTIONS] [SECONDS] [ROUNDS]      (defaults: 64 10 3)
#
# Installs nginx and wrk (Debian) if missing. Prints requests/s and p99 latency of each
# round, the medians, and the ratio satoshipress/nginx. Both servers log nothing per request.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${1:-64}
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

# wrk → "requests/s p99_ms"
run_wrk() {
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$1" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v = v / 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v = v * 1000 } p99 = v }
    /Non-2xx/ { bad = $NF }
    END { printf "%s %s %s\n", rps, p99, bad + 0 }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "machine: $(nproc) cores; wrk -t2 -c$CONNS -d${SECS}s; $ROUNDS rounds, alternating"
echo "body: $(wc -c < "$WORK/root/satoshipay-content/$ID") bytes of JSON"
: > "$WORK/sp.txt"; : > "$WORK/ng.txt"
for r in $(seq "$ROUNDS"); do
  read -r rps p99 bad <<< "$(run_wrk "$SP_URL")"
  echo "$rps $p99" >> "$WORK/sp.txt"
  printf 'round %d  satoshipress-content %10.0f req/s  p99 %6.2f ms  non-2xx %s\n' "$r" "$rps" "$p99" "$bad"
  read -r rps p99 bad <<< "$(run_wrk "$NG_URL")"
  echo "$rps $p99" >> "$WORK/ng.txt"
  printf 'round %d  nginx                %10.0f req/s  p99 %6.2f ms  non-2xx %s\n' "$r" "$rps" "$p99" "$bad"
done
SP_RPS=$(cut -d' ' -f1 "$WORK/sp.txt" | median); SP_P99=$(cut -d' ' -f2 "$WORK/sp.txt" | median)
NG_RPS=$(cut -d' ' -f1 "$WORK/ng.txt" | median); NG_P99=$(cut -d' ' -f2 "$WORK/ng.txt" | median)
printf 'median   satoshipress-content %10.0f req/s  p99 %6.2f ms\n' "$SP_RPS" "$SP_P99"
printf 'median   nginx                %10.0f req/s  p99 %6.2f ms\n' "$NG_RPS" "$NG_P99"
python3 -c "print(f'ratio    satoshipress/nginx = {$SP_RPS/$NG_RPS:.2f}x requests/s (target >= 0.70x; p99 target < 5 ms)')"
