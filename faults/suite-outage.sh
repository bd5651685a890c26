#!/usr/bin/env bash
# Fault suite: see faults/README.md ("outage"). Extra arguments go to `gapwatch-faults outage`.
exec "$(dirname "$0")/suite.sh" outage "$@"
