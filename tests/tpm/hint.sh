#!/usr/bin/env bash
# Runs test_tpm_hint (its first argument) against a swtpm that is stopped
# while the driver starts and restarted on the test's signal.
. "$(dirname "$0")/../harness/swtpm.sh"
prog=$1
sync=$(mktemp -d)
trap 'swtpm_stop; rm -rf "$sync"' EXIT
swtpm_start || exit 1
kill "$TOKEND_TEST_SWTPM_PID"
wait "$TOKEND_TEST_SWTPM_PID" 2>/dev/null
"$prog" "$sync" &
pid=$!
for _ in $(seq 200); do
	[ -e "$sync/ready" ] && break
	sleep 0.05
done
swtpm_restart || exit 1
touch "$sync/restarted"
wait "$pid"
