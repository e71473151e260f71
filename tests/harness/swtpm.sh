#!/usr/bin/env bash
# swtpm.sh: a private software TPM for tests.
#
# As a wrapper:
#   tests/harness/swtpm.sh CMD [ARGS...]
# starts a swtpm (TPM 2.0, already started: --flags not-need-init,
# startup-clear) with its state in a fresh temporary directory, its server
# port P and control port P+1 on 127.0.0.1 (free ports, picked at random and
# retried when another process took them first), waits until it answers,
# runs CMD with
#   TOKEND_TEST_TCTI=swtpm:host=127.0.0.1,port=P   (the TCTI string)
#   TOKEND_TEST_SWTPM_CTRL=P+1                     (control port)
#   TOKEND_TEST_SWTPM_STATE=DIR                    (its --tpmstate dir)
#   TOKEND_TEST_SWTPM_PID=PID                      (kill it to pull the TPM)
# exported, and exits with CMD's status. swtpm is killed and DIR removed
# however CMD ends (trap). Each call has a swtpm of its own, also when
# nested (a test may kill or lock out its TPM).
#
# Sourced (from a bash test that needs "swtpm killed and restarted"):
#   . tests/harness/swtpm.sh
#   swtpm_start          # as above: sets and exports the four variables
#   kill "$TOKEND_TEST_SWTPM_PID"   # the TPM disappears
#   swtpm_restart        # a new swtpm on the same state dir and ports
#   swtpm_stop           # kills it and removes the dir: call it from your
#                        # own EXIT trap (sourcing sets no trap)
# Call them in the test's own shell, not in $(...): they set variables.
# They do not change the caller's shell options, and work under
# set -euo pipefail.
# The swtpm's log is $TOKEND_TEST_SWTPM_STATE/swtpm.log.

SWTPM_OWN_DIR=${SWTPM_OWN_DIR:-}

# _swtpm_spawn PORT: starts swtpm on PORT and PORT+1 with the state in
# $TOKEND_TEST_SWTPM_STATE; returns 0 once its control port answers, 1 when
# it exited (ports taken) or stayed silent for 5 s.
_swtpm_spawn() {
	local port=$1 ctrl=$(($1 + 1)) dir=$TOKEND_TEST_SWTPM_STATE i
	swtpm socket --tpm2 --tpmstate "dir=$dir" \
		--server "type=tcp,port=$port,bindaddr=127.0.0.1" \
		--ctrl "type=tcp,port=$ctrl,bindaddr=127.0.0.1" \
		--flags not-need-init,startup-clear \
		--log "file=$dir/swtpm.log" </dev/null >>"$dir/swtpm.log" 2>&1 &
	TOKEND_TEST_SWTPM_PID=$!
	for i in $(seq 100); do
		if ! kill -0 "$TOKEND_TEST_SWTPM_PID" 2>/dev/null; then
			wait "$TOKEND_TEST_SWTPM_PID" 2>/dev/null || true
			TOKEND_TEST_SWTPM_PID=""
			return 1
		fi
		if swtpm_ioctl --tcp "127.0.0.1:$ctrl" -g >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	_swtpm_kill
	return 1
}

_swtpm_kill() {
	local pid=${TOKEND_TEST_SWTPM_PID:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	TOKEND_TEST_SWTPM_PID=""
	return 0
}

# A port P with P and P+1 free right now (the spawn may still lose the race:
# it is retried).
_swtpm_pick_port() {
	local p tries
	for tries in $(seq 50); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if ! ss -Htan "( sport = :$p or sport = :$((p + 1)) )" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

_swtpm_failed() { # MESSAGE: says it with swtpm's log, returns 1
	echo "swtpm.sh: $1; its log:" >&2
	cat "$TOKEND_TEST_SWTPM_STATE/swtpm.log" >&2 2>/dev/null || true
	return 1
}

swtpm_start() {
	local port tries
	TOKEND_TEST_SWTPM_STATE=$(mktemp -d "${TMPDIR:-/tmp}/tokend-swtpm.XXXXXX") || return 1
	SWTPM_OWN_DIR=$TOKEND_TEST_SWTPM_STATE
	for tries in $(seq 20); do
		port=$(_swtpm_pick_port) || break
		if _swtpm_spawn "$port"; then
			export TOKEND_TEST_TCTI="swtpm:host=127.0.0.1,port=$port"
			export TOKEND_TEST_SWTPM_CTRL=$((port + 1))
			export TOKEND_TEST_SWTPM_STATE TOKEND_TEST_SWTPM_PID
			return 0
		fi
	done
	_swtpm_failed "could not start swtpm"
}

# A new swtpm on the same state and ports (after the test killed the old
# one, or killing it first). The ports may linger a moment: retried.
swtpm_restart() {
	local port=${TOKEND_TEST_TCTI:-}
	local tries
	port=${port##*port=}
	_swtpm_kill
	for tries in $(seq 50); do
		if _swtpm_spawn "$port"; then
			export TOKEND_TEST_SWTPM_PID
			return 0
		fi
		sleep 0.1
	done
	_swtpm_failed "could not restart swtpm on port $port"
}

swtpm_stop() {
	_swtpm_kill
	if [ -n "$SWTPM_OWN_DIR" ]; then
		rm -rf "$SWTPM_OWN_DIR"
		SWTPM_OWN_DIR=""
	fi
	return 0
}

# Executed rather than sourced: the wrapper.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	if [ "$#" -eq 0 ]; then
		echo "usage: $0 CMD [ARGS...]" >&2
		exit 2
	fi
	trap swtpm_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	swtpm_start || exit 1
	rc=0
	"$@" || rc=$?
	exit "$rc"
fi
