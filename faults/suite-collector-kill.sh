#!/usr/bin/env bash
# Fault suite: see faults/README.md ("collector-kill"). Extra arguments go to `gapwatch-faults collector-kill`.
exec "$(dirname "$0")/suite.sh" collector-kill "$@"
