#!/usr/bin/env bash
# CI step: run ./legacy-step (a build or deploy script that talks to the
# network and sometimes hangs forever on a dead peer) with a 20 s idle
# timeout on every TCP connection of every program it starts. A hung
# connection then fails the step after 20 s with "Connection timed out"
# and a log line naming the peer, instead of eating the job's time limit.
#
# Usage: examples/ci/legacy-step.sh [ARG...]     (arguments go to the step)
#   STEP_IDLE_TIMEOUT   the timeout in seconds (default 20)
#   TIMEOUTSOCK         the timeoutsock command (default: found in PATH)
#   LEGACY_STEP         the step to run (default ./legacy-step)
set -uo pipefail

TIMEOUTSOCK=${TIMEOUTSOCK:-timeoutsock}
if ! command -v "$TIMEOUTSOCK" >/dev/null; then
    echo "legacy-step.sh: $TIMEOUTSOCK not found: install libtimeoutsock (scripts/install PREFIX) and put PREFIX/bin in PATH" >&2
    exit 125
fi

# With the defaults this is: timeoutsock -t 20 --log -- ./legacy-step
"$TIMEOUTSOCK" -t "${STEP_IDLE_TIMEOUT:-20}" --log -- "${LEGACY_STEP:-./legacy-step}" "$@"
status=$?

case $status in
    0) ;;
    122) echo "legacy-step.sh: the step cannot be preloaded (statically linked or setuid, see above): it was not run" >&2 ;;
    125|126|127) echo "legacy-step.sh: the step could not be started (exit $status, see above)" >&2 ;;
    *) echo "legacy-step.sh: the step failed with exit status $status; lines 'timeoutsock: ... timed out' above name hung connections" >&2 ;;
esac
exit $status
