#!/usr/bin/env bash
# Ceilings: what the components underneath Gapwatch do on this machine with no Gapwatch code at all.
# They bound the issue-2 figures (ingest ratio, agent RSS). Needs a C compiler and the -dev packages.
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$out"' EXIT
cc -O2 sqlite_insert.c -o "$out/sqlite_insert" -lsqlite3
cc -O2 curl_rss.c -o "$out/curl_rss" -lcurl
echo "== SQLite insert ceiling (C loop, WAL, synchronous=NORMAL, 20 observations per report)"
for txn in 1 2 8 32; do for v in A D F; do TMPDIR=$out "$out/sqlite_insert" $v $txn 10000; done; done
echo "== RSS of a C program after one libcurl POST (system libcurl, $(ldd "$out/curl_rss" | wc -l) shared objects)"
port=$((20000 + RANDOM % 20000))
python3 -m http.server $port --bind 127.0.0.1 >/dev/null 2>&1 &
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$port/ && break; sleep 0.1; done
"$out/curl_rss" http://127.0.0.1:$port/ || true
