#!/usr/bin/env bash
# Soak: satoshipress-content under wrk at 256 connections for SECONDS, while the bundle is
# rebuilt and replaced every second (the server reloads it by itself; SIGHUP every other
# second too). Prints wrk's totals (every non-2xx answer and socket error counts as a
# failure) and the server's resident memory every 5 seconds, which must stay flat.
#
#   bench/soak.sh [SECONDS] [CONNECTIONS]        (defaults: 60 256)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
CONNS=${2:-256}
command -v wrk >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
cargo build --release --locked -q --bin satoshipress --bin satoshipress-content
WORK=$(mktemp -d)
cleanup() { kill "${SP_PID:-}" "${WRK_PID:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
export SATOSHIPRESS_KEY=KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=
cp -r example-site "$WORK/site"
rm -rf "$WORK/site/public" "$WORK/site/bundle" "$WORK/site/satoshipress.lock" "$WORK/site/satoshipress.key"
./target/release/satoshipress build "$WORK/site" --quiet
read -r ID SECRET < <(./target/release/satoshipress goods list "$WORK/site" --json --show-secrets |
  python3 -c 'import json,sys; g=[g for g in json.load(sys.stdin) if g["key"].endswith("brewing-guide.md#main")][0]; print(g["id"], g["secret"])')
./target/release/satoshipress-content --bundle "$WORK/site/bundle/content.spb" --listen 127.0.0.1:0 --no-access-log \
  --max-connections 2048 > "$WORK/sp.out" 2> "$WORK/sp.err" &
SP_PID=$!
for _ in $(seq 50); do grep -q listening "$WORK/sp.out" 2>/dev/null && break; sleep 0.1; done
URL="$(sed -n 's/^listening on //p' "$WORK/sp.out")/satoshipay-content/$ID?paymentCert=$SECRET"
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$URL" > "$WORK/wrk.txt" &
WRK_PID=$!
GUIDE="$WORK/site/content/posts/brewing-guide.md"
for i in $(seq "$SECS"); do
  sed -i "s/The secret is the second pour[^.]*\./The secret is the second pour (round $i)./" "$GUIDE"
  ./target/release/satoshipress build "$WORK/site" --quiet
  [ $((i % 2)) -eq 0 ] && kill -HUP "$SP_PID"
  [ $((i % 5)) -eq 0 ] && echo "t=${i}s rss=$(awk '/VmRSS/ { print $2 " kB" }' "/proc/$SP_PID/status")"
  sleep 1
done
wait "$WRK_PID"
cat "$WORK/wrk.txt" | grep -E "Requests/sec|requests in|Non-2xx|Socket errors|99%"
echo "reloads: $(grep -c 'bundle reloaded' "$WORK/sp.err") ok, $(grep -c 'reload refused' "$WORK/sp.err") refused"
grep -q "Non-2xx\|Socket errors" "$WORK/wrk.txt" && { echo "FAILED: errors during the soak"; exit 1; }
echo "ok: no failed request"
