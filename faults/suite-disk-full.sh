#!/usr/bin/env bash
# Fault suite: see faults/README.md ("disk-full"). Extra arguments go to `gapwatch-faults disk-full`.
exec "$(dirname "$0")/suite.sh" disk-full "$@"
