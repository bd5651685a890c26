#!/usr/bin/env bash
# Fault suite: see faults/README.md ("disk-full"), the file-size-limit variant: the collector's
# RLIMIT_FSIZE is lowered with prlimit (writes fail with EFBIG, not ENOSPC) and lifted again.
exec "$(dirname "$0")/suite.sh" disk-full --method fsize "$@"
