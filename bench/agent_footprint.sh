#!/usr/bin/env bash
# Agent footprint: binary sizes; RSS and CPU while idle-shipping a heartbeat every 15 s, with a
# breakdown of where the resident memory is (by mapping, from /proc/PID/smaps); then RSS and CPU
# while it drains a backlog spooled during a collector outage.
# Usage: bench/agent_footprint.sh [seconds-to-idle (default 60)] [agent binary] [backlog (default 20000)]
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-60}
agent=${2:-.build-static/release/gapwatch-agent}
backlog=${3:-20000}
collector=${GAPWATCH_COLLECTOR:-.build/release/gapwatch}
[ -x "$agent" ] && [ -x "$collector" ] || { echo "build first: make release"; exit 1; }

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cport=$((20000 + RANDOM % 20000)); aport=$((cport + 1))

echo "== binary sizes"
for b in .build/release/gapwatch-agent "$agent"; do
  [ -x "$b" ] || continue
  s=$(mktemp); strip -o "$s" "$b"
  printf '%-45s %8d KiB unstripped, %8d KiB stripped\n' "$b" $(( $(stat -c %s "$b") / 1024 )) $(( $(stat -c %s "$s") / 1024 ))
  rm -f "$s"
done
ldd "$agent" | awk '{print "  links: " $1}'

start_collector() {
  (cd "$work" && exec "$OLDPWD/$collector" collector --listen 127.0.0.1:$cport --database gapwatch.db --log-level warning) >>"$work/collector.log" 2>&1 &
  cpid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$cport/healthz >/dev/null && break; sleep 0.1; done
}
start_collector
agent_id=$(grep GAPWATCH_AGENT_ID "$work/gapwatch.tokens" | cut -d= -f2)
cat >"$work/agent.yaml" <<YAML
agent:
  id: $agent_id
collector:
  url: http://127.0.0.1:$cport
  token_file: $work/gapwatch.tokens
heartbeat:
  interval: 15s
spool:
  dir: $work/spool
listen: 127.0.0.1:$aport
YAML
"$agent" run --config "$work/agent.yaml" >"$work/agent.log" 2>&1 &
apid=$!
sleep "$idle"
echo "== agent after ${idle}s idle-shipping every 15s (pid $apid)"
grep -E 'VmRSS|VmHWM|RssAnon|RssFile' /proc/$apid/status | sed 's/^/  /'
# Pss splits shared library pages among the processes mapping them; Private is this process's own.
grep -E '^(Pss|Private_Clean|Private_Dirty):' /proc/$apid/smaps_rollup | sed 's/^/  /'
cpu=$(awk '{print $14+$15}' /proc/$apid/stat); echo "  CPU time so far: $((cpu * 10)) ms (utime+stime)"
echo "== resident memory by mapping (KiB, top 12)"
awk '/^[0-9a-f]+-[0-9a-f]+ /{name=($6==""?"[anon]":$6)} /^Rss:/{rss[name]+=$2} END{for(n in rss) if (rss[n]>0) printf "%8d  %s\n", rss[n], n}' /proc/$apid/smaps | sort -rn | head -12
stored=$(curl -s -H "Authorization: Bearer $(grep GAPWATCH_ADMIN_TOKEN "$work/gapwatch.tokens" | cut -d= -f2)" "http://127.0.0.1:$cport/v1/agents" | grep -o '"last_seq":[0-9]*')
echo "== collector has: $stored"

# Draining: the collector goes away, a service keeps pushing (each push is spooled and fsynced
# before the agent answers), then the collector returns and the agent ships the backlog.
echo "== backlog: collector stopped, $backlog observations pushed to the agent"
kill "$cpid"; wait "$cpid" 2>/dev/null || true
python3 - "$aport" "$backlog" <<'PY'
import http.client, json, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port)
began = time.monotonic()
for i in range(n):
    body = json.dumps({"kind": "count", "dataset": "nba_raw.bdl_player_boxscores", "partition": "2026-01-22", "count": i})
    conn.request("POST", "/v1/observations", body, {"Content-Type": "application/json"})
    r = conn.getresponse(); r.read()
    if r.status != 200: sys.exit(f"push {i}: HTTP {r.status}")
took = time.monotonic() - began
print(f"  pushed {n} in {took:.1f} s ({n / took:.0f} pushes/s, each fsynced before its answer)")
PY
status() { curl -s "http://127.0.0.1:$aport/v1/status"; }
echo "  agent spool before the drain: $(status | grep -o '"pending":[0-9]*'), RSS $(awk '/VmRSS/{print $2}' /proc/$apid/status) KiB"
cpu0=$(awk '{print $14+$15}' /proc/$apid/stat)
t0=$(date +%s%N)
start_collector
peak=0; first=""
for _ in $(seq 6000); do  # at most 10 minutes
  rss=$(awk '/VmRSS/{print $2}' /proc/$apid/status); [ "$rss" -gt "$peak" ] && peak=$rss
  pending=$(status | grep -o '"pending":[0-9]*' | cut -d: -f2)
  # The agent retries on its own backoff schedule (jittered, up to collector.backoff_max): the
  # first shipment after the outage marks the start of the drain proper.
  [ -z "$first" ] && [ "${pending:-$backlog}" -lt "$backlog" ] && first=$(date +%s%N)
  [ "${pending:-1}" = 0 ] && break
  sleep 0.1
done
t1=$(date +%s%N); cpu1=$(awk '{print $14+$15}' /proc/$apid/stat)
first=${first:-$t1}
wait_ms=$(( (first - t0) / 1000000 )); drain_ms=$(( (t1 - first) / 1000000 ))
echo "== drain of $backlog observations (pending ${pending:-?} at the end)"
echo "  first shipment $wait_ms ms after the collector was back (the agent's backoff)"
echo "  then drained in $drain_ms ms ($(( backlog * 1000 / (drain_ms > 0 ? drain_ms : 1) )) observations/s shipped and stored; 100 ms sampling)"
echo "  agent CPU during the drain: $(( (cpu1 - cpu0) * 10 )) ms (utime+stime)"
echo "  agent peak RSS during the drain: $peak KiB (sampled every 100 ms)"
stored=$(curl -s -H "Authorization: Bearer $(grep GAPWATCH_ADMIN_TOKEN "$work/gapwatch.tokens" | cut -d= -f2)" "http://127.0.0.1:$cport/v1/agents" | grep -o '"last_seq":[0-9]*')
echo "== collector has: $stored"
