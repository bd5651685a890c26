#!/usr/bin/env bash
# Fault suite: see faults/README.md ("hostile"). Extra arguments go to `gapwatch-faults hostile`.
exec "$(dirname "$0")/suite.sh" hostile "$@"
