#!/usr/bin/env bash
# Runs every benchmark program and prints its figures. Build first: make release.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "### gapwatch bench decode"; .build/release/gapwatch bench decode
echo; echo "### gapwatch bench ingest"; .build/release/gapwatch bench ingest --seconds 10 --clients 4
echo; echo "### bench/agent_footprint.sh"; bash bench/agent_footprint.sh 60
echo; echo "### bench/ceilings/run.sh"; bash bench/ceilings/run.sh
