#!/usr/bin/env bash
# private_pcscd.sh CMD [ARGS...]: runs CMD with a pcscd of its own, in a new
# mount and network namespace: a tmpfs on /run/pcscd hides the machine's
# pcscd, and a private loopback gives vpcd's ports (35963, 35964) to this
# pcscd alone. Card tests and developers can so run side by side, and a test
# may stop and restart "its" pcscd without touching anyone else's.
#
#   tests/harness/private_pcscd.sh ctest --test-dir build -L card
#
# Needs root (unshare). The pcscd is stopped when CMD ends, however it ends.
# Inside, PRIVATE_PCSCD_PID names the pcscd, and TOKEND_PRIVATE_PCSCD=1.
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

if [ "${TOKEND_PRIVATE_PCSCD:-}" = 1 ]; then
	exec "$@" # already inside one
fi

exec unshare --mount --net --propagation private -- bash -c '
	set -euo pipefail
	ip link set lo up
	mkdir -p /run/pcscd
	mount -t tmpfs -o mode=0755 tmpfs /run/pcscd
	PATH=$PATH:/usr/sbin:/sbin
	pcscd --foreground >/run/pcscd/pcscd.log 2>&1 &
	PRIVATE_PCSCD_PID=$!
	export PRIVATE_PCSCD_PID TOKEND_PRIVATE_PCSCD=1
	trap "kill \$PRIVATE_PCSCD_PID 2>/dev/null || true; wait \$PRIVATE_PCSCD_PID 2>/dev/null || true" EXIT
	# pcscd is ready once its socket and pid file exist.
	for _ in $(seq 100); do
		[ -S /run/pcscd/pcscd.comm ] && [ -s /run/pcscd/pcscd.pid ] && break
		sleep 0.05
	done
	rc=0
	"$@" || rc=$?
	exit "$rc"
' private_pcscd "$@"
