#!/usr/bin/env bash
# README's "Sharing a SoftHSMv2 token with containers" run as written: its
# two shell blocks are cut out of README.md and run with only the absolute
# paths moved under the test's directory (/etc/tokend, /var/lib/tokend,
# /run/tokend, the container's /tmp). What a test cannot do is stood in for
# by commands of the same name first in PATH: apt-get does nothing (CI
# installed the packages), runuser and install -o/-g run as root, systemctl
# restart starts the build's tokend, tokend gets the moved config, and
# docker runs the container's script as uid 100000 (a rootless container's
# root, as tokend sees it) with the -e variables. A README edit that breaks
# the recipe breaks this test.
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
: "${TOKEND:?}" "${TOKEND_SOURCE_DIR:?}"
if [ ! -f "$SOFTHSM" ] || [ ! -f "$DEBIAN_CLIENT_SO" ]; then
	echo "SKIP: SoftHSMv2 or Debian's p11-kit-client.so missing"
	exit 77
fi
harness_init
# systemctl's tokend is not this shell's child: stopped by its pid file
# however the test ends.
readme_cleanup() {
	local rc=$? pid
	pid=$(cat "${T:-/nonexistent}/tokend.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		sleep 1
		kill -KILL "$pid" 2>/dev/null || true
	fi
	(exit "$rc")
	bridge_cleanup
}
trap readme_cleanup EXIT
harness_require softhsm2-util pkcs11-tool openssl setpriv
T=$HARNESS_TMP
chmod 0755 "$T" # uid 100000 reaches the export's socket through it
LOG=$T/tokend.log
HARNESS_LOGS=("$LOG")
R=$T/root

# The section's first block is the host's, the second the container's.
awk -v out="$T/block" '
	/^## / { on = ($0 == "## Sharing a SoftHSMv2 token with containers") }
	on && /^```sh$/ { n++; f = out n ".sh"; inb = 1; next }
	inb && /^```$/ { inb = 0; next }
	inb { print > f }' "$TOKEND_SOURCE_DIR/README.md"
for b in 1 2; do
	[ -s "$T/block$b.sh" ] || fail "README: no shell block $b in the SoftHSMv2 section"
	# /tmp/ first: $R is under /tmp itself
	[ "$b" = 2 ] && sed -i "s#/tmp/#$R/ctmp/#g" "$T/block$b.sh"
	sed -i -e "s#/etc/tokend#$R/etc/tokend#g; s#/var/lib/tokend#$R/var/lib/tokend#g" \
		-e "s#/run/tokend#$R/run/tokend#g" "$T/block$b.sh"
done
grep -q 'systemctl restart tokend' "$T/block1.sh" || fail "README's recipe no longer restarts tokend"
grep -q '^docker run' "$T/block2.sh" || fail "README's container block no longer uses docker run"
mkdir -p "$R/etc/tokend" "$R/var/lib/tokend" "$R/run/tokend" "$R/ctmp" "$T/bin"
chmod 1777 "$R/ctmp"
# The config as tokend's package leaves it, but for the state directory.
printf '[tokend]\nstate-dir = %s/var/lib/tokend\n' "$R" >"$R/etc/tokend/tokend.conf"

cat >"$T/bin/apt-get" <<'EOF'
#!/bin/sh
exit 0
EOF
cat >"$T/bin/runuser" <<'EOF'
#!/bin/sh
# runuser -u USER -- CMD...: root here
[ "$1" = -u ] && shift 2
[ "$1" = -- ] && shift
exec "$@"
EOF
cat >"$T/bin/install" <<'EOF'
#!/bin/bash
a=()
while [ $# -gt 0 ]; do
	case $1 in -o | -g) shift 2 ;; *) a+=("$1"); shift ;; esac
done
exec /usr/bin/install "${a[@]}"
EOF
cat >"$T/bin/tokend" <<EOF
#!/bin/sh
exec "$TOKEND" -c "$R/etc/tokend/tokend.conf" "\$@"
EOF
# systemctl restart tokend: the build's tokend in the background, up when
# both exports' sockets are there.
cat >"$T/bin/systemctl" <<EOF
#!/bin/sh
[ "\$*" = "restart tokend" ] || { echo "systemctl \$*: not in this test" >&2; exit 1; }
"$TOKEND" -f -c "$R/etc/tokend/tokend.conf" >>"$LOG" 2>&1 &
echo \$! >"$T/tokend.pid"
for _ in \$(seq 300); do
	[ -S "$R/run/tokend/mqtt/pkcs11" ] && [ -S "$R/run/tokend/admin/pkcs11" ] && exit 0
	kill -0 \$(cat "$T/tokend.pid") 2>/dev/null || { echo "tokend exited" >&2; exit 1; }
	sleep 0.1
done
echo "tokend's sockets did not appear" >&2
exit 1
EOF
# docker run [--rm] [-v A:B] [-e K=V]... IMAGE sh -c SCRIPT
cat >"$T/bin/docker" <<'EOF'
#!/bin/bash
[ "$1" = run ] || exit 1
shift
envs=()
while [ $# -gt 0 ]; do
	case $1 in
	--rm) shift ;;
	-v) shift 2 ;;
	-e) envs+=("$2"); shift 2 ;;
	*) break ;;
	esac
done
shift # the image
exec setpriv --reuid 100000 --regid 100000 --clear-groups \
	env PATH="$PATH" "${envs[@]}" "$@"
EOF
chmod 0755 "$T/bin"/*
export PATH=$T/bin:$PATH

run_ok "README: the host's block" bash -e "$T/block1.sh"
TOKEND_PID=$(cat "$T/tokend.pid")
check "the export's socket lets the container's uid in" test -S "$R/run/tokend/mqtt/pkcs11"
run_ok "README: the container's block" bash -e "$T/block2.sh"
assert_contains "$OUT" "gateway" "the container lists the token"
assert_contains "$OUT" "Signature Verified Successfully" "openssl verifies the container's signature"
check "the key was made in SoftHSMv2's store under the state directory" \
	test -n "$(find "$R/var/lib/tokend/softhsm" -name '*.object' | head -n 1)"

# systemctl's tokend is not this shell's child: no exit status to wait for
tokend_gone "$TOKEND_PID" "$LOG"
TOKEND_PID=
finish
