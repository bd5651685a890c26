#!/usr/bin/env bash
# Fault suite: see faults/README.md ("agent-kill"). Extra arguments go to `gapwatch-faults agent-kill`.
exec "$(dirname "$0")/suite.sh" agent-kill "$@"
