#!/usr/bin/env bash
# Agent footprint, side by side in one run: the installed gapwatch-agent (`make install` into a
# temporary DESTDIR: release build, static Swift runtime, stripped), zabbix_agentd and
# prometheus-node-exporter (the Debian packages, installed if missing), each started here on
# loopback with a minimal config and doing its job every 15 s: the agent ships a heartbeat to a
# collector, zabbix_agentd answers three passive checks, node exporter is scraped. After the settle
# time it prints RSS, PSS and private memory of each (summed over a program's processes, from
# /proc/PID/smaps_rollup). Then, for gapwatch-agent alone: binary size, where its resident memory
# is (by mapping), and RSS and CPU while it drains a backlog spooled during a collector outage.
# Usage: bench/agent_footprint.sh [settle seconds (default 60)] [agent binary] [backlog (default 20000)]
#   With an agent binary, the collector is $GAPWATCH_COLLECTOR or .build/release/gapwatch.
set -euo pipefail
cd "$(dirname "$0")/.."
settle=${1:-60}
agent=${2:-}
backlog=${3:-20000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
sudo=$([ "$(id -u)" = 0 ] || echo sudo)

if [ -z "$agent" ]; then
  echo "== make install DESTDIR=$work/root PREFIX=/usr (log: make-install.log)"
  make install DESTDIR="$work/root" PREFIX=/usr >"$work/make-install.log" 2>&1 || { tail -20 "$work/make-install.log"; exit 1; }
  agent=$work/root/usr/bin/gapwatch-agent
  collector=$work/root/usr/bin/gapwatch
else
  collector=${GAPWATCH_COLLECTOR:-.build/release/gapwatch}
fi
[ -x "$agent" ] && [ -x "$collector" ] || { echo "missing $agent or $collector: make release"; exit 1; }
agent=$(realpath "$agent"); collector=$(realpath "$collector")
echo "   $("$agent" --version 2>&1 | head -1) ($agent)"

# The two agents people already run beside services, from Debian. Their packages enable and start
# system services: a policy-rc.d that refuses (Debian's documented switch) keeps them from starting
# during the install, and they are disabled after it. This script runs the binaries itself.
zabbix=/usr/sbin/zabbix_agentd
node=/usr/bin/prometheus-node-exporter
missing=()
[ -x "$zabbix" ] || missing+=(zabbix-agent)
[ -x "$node" ] || missing+=(prometheus-node-exporter)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (their services are not started, and disabled)"
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null && $sudo chmod 0755 /usr/sbin/policy-rc.d
    made_policy=yes
  fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -n "$made_policy" ] && $sudo rm -f /usr/sbin/policy-rc.d
  for p in "${missing[@]}"; do
    if [ -d /run/systemd/system ]; then
      $sudo systemctl disable --now "$p" >/dev/null 2>&1 || true
    else
      $sudo deb-systemd-helper disable "$p.service" >/dev/null 2>&1 || true
      $sudo update-rc.d "$p" disable >/dev/null 2>&1 || true
    fi
  done
fi
echo "   $("$zabbix" -V | head -1); node_exporter $("$node" --version 2>&1 | grep -o 'version [0-9.]*' | head -1)"

# Four free ports, all held until all are known, so no two are the same. zabbix_agentd takes only
# 1024-32767, below the kernel's ephemeral range, so its port is drawn from 20000-32767.
read -r cport aport zport nport < <(python3 -c '
import random, socket
held = [socket.socket() for _ in range(4)]
for s in held[:2] + held[3:]: s.bind(("127.0.0.1", 0))
for _ in range(1000):
    try:
        held[2].bind(("127.0.0.1", random.randint(20000, 32767))); break
    except OSError: pass
print(*(s.getsockname()[1] for s in held))')
start_collector() {
  (cd "$work" && exec "$collector" collector --listen 127.0.0.1:$cport --database gapwatch.db --log-level warning) >>"$work/collector.log" 2>&1 &
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

# Passive checks only (no ServerActive: no Zabbix server here); the default 3 listener processes.
cat >"$work/zabbix_agentd.conf" <<CONF
LogType=console
PidFile=$work/zabbix_agentd.pid
Server=127.0.0.1
ListenIP=127.0.0.1
ListenPort=$zport
Hostname=gapwatch-bench
AllowRoot=1
CONF
"$zabbix" -f -c "$work/zabbix_agentd.conf" >"$work/zabbix.log" 2>&1 &
zpid=$!
# The default collectors, as the Debian service runs it.
"$node" --web.listen-address=127.0.0.1:$nport >"$work/node.log" 2>&1 &
npid=$!

zabbix_get() {  # one passive check over Zabbix's TCP protocol: header, little-endian length, key
  python3 - "$zport" "$1" <<'PY'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
key = sys.argv[2].encode()
s.sendall(b"ZBXD\x01" + struct.pack("<Q", len(key)) + key)
data = b""
while chunk := s.recv(65536): data += chunk
print(data[13:].decode(errors="replace"))
PY
}
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$nport/metrics && zabbix_get agent.ping >/dev/null 2>&1 && break; sleep 0.1; done
kill -0 "$zpid" 2>/dev/null || { echo "zabbix_agentd did not start:"; tail -5 "$work/zabbix.log"; exit 1; }
kill -0 "$npid" 2>/dev/null || { echo "prometheus-node-exporter did not start:"; tail -5 "$work/node.log"; exit 1; }
echo "== settling ${settle}s: a heartbeat shipped, 3 Zabbix checks answered, node exporter scraped, every 15 s"
end=$((SECONDS + settle))
while [ $SECONDS -lt $end ]; do
  curl -sf http://127.0.0.1:$nport/metrics >/dev/null || echo "   node exporter did not answer"
  for key in agent.ping 'system.cpu.load[all,avg1]' 'vm.memory.size[available]'; do
    zabbix_get "$key" >/dev/null 2>&1 || echo "   zabbix_agentd did not answer $key"
  done
  left=$((end - SECONDS)); sleep $((left < 15 ? (left > 0 ? left : 0) : 15))
done

tree() {  # a pid and its descendants
  echo "$1"
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$c"; done
}
# Pss splits each shared page among the processes mapping it; Private is only this program's own.
memory() {
  local name=$1 pids; pids=$(tree "$2")
  for p in $pids; do cat /proc/"$p"/smaps_rollup; done | awk -v name="$name" -v n="$(echo "$pids" | wc -w)" \
    '/^Rss:/{r+=$2} /^Pss:/{p+=$2} /^Private_(Clean|Dirty):/{v+=$2}
     END{printf "| %-24s | %9d | %7.1f MiB | %7.1f MiB | %7.1f MiB |\n", name, n, r/1024, p/1024, v/1024}'
}
stored=$(curl -s -H "Authorization: Bearer $(grep GAPWATCH_ADMIN_TOKEN "$work/gapwatch.tokens" | cut -d= -f2)" "http://127.0.0.1:$cport/v1/agents" | grep -o '"last_seq":[0-9]*' || true)
echo "== memory after ${settle}s (collector has the agent's $stored)"
echo "| program                  | processes |         RSS |         PSS |     private |"
echo "|--------------------------|-----------|-------------|-------------|-------------|"
memory "gapwatch-agent" "$apid"
memory "zabbix_agentd" "$zpid"
memory "prometheus-node-exporter" "$npid"
echo "   (RSS sums the processes' resident pages, shared ones once per process; PSS shares them out)"
kill "$zpid" "$npid" 2>/dev/null || true

echo "== gapwatch-agent: binary"
printf '  %s: %d KiB%s\n' "$agent" $(( $(stat -c %s "$agent") / 1024 )) "$(readelf -S "$agent" | grep -q '\.symtab' && echo ', not stripped' || echo ', stripped')"
ldd "$agent" | awk '{printf "%s ", $1} END{print ""}' | fold -s -w 100 | sed 's/^/  links: /'
echo "== gapwatch-agent: resident memory by mapping (KiB, top 12; $(grep Threads /proc/$apid/status | tr -s '\t' ' '))"
awk '/^[0-9a-f]+-[0-9a-f]+ /{name=($6==""?"[anon]":$6)} /^Rss:/{rss[name]+=$2} END{for(n in rss) if (rss[n]>0) printf "%8d  %s\n", rss[n], n}' /proc/$apid/smaps | sort -rn | head -12
cpu=$(awk '{print $14+$15}' /proc/$apid/stat); echo "  CPU time so far: $((cpu * 10)) ms (utime+stime)"

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
