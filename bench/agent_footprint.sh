#!/usr/bin/env bash
# Agent footprint: binary sizes, and RSS while idle-shipping a heartbeat every 15 s, with a
# breakdown of where the resident memory is (by mapping, from /proc/PID/smaps).
# Usage: bench/agent_footprint.sh [seconds-to-idle (default 60)] [agent binary]
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-60}
agent=${2:-.build-static/release/gapwatch-agent}
collector=.build/release/gapwatch
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

(cd "$work" && exec "$OLDPWD/$collector" collector --listen 127.0.0.1:$cport --database gapwatch.db --log-level warning) >"$work/collector.log" 2>&1 &
for _ in $(seq 100); do curl -sf http://127.0.0.1:$cport/healthz >/dev/null && break; sleep 0.1; done
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
