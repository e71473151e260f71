#!/usr/bin/env bash
# One SoftHSMv2 token, two socket servers side by side, the same client
# (Debian's p11-kit-client.so): tokend with [module softhsm] against
# `p11-kit server --provider libsofthsm2.so`. A new client's wall time,
# C_Sign/s (ECDSA P-256, RSA-2048) on one connection and with 8 clients at
# once, server memory with 1/10/100 idle connections (module_bench.py).
# Prints a markdown table; asserts nothing on timings. Needs no card and no
# pcscd.
#
#   bench/module.sh [BUILD_DIR]
#
# Environment:
#   TOKEND              tokend binary (default BUILD_DIR/daemon/tokend)
#   TOKEND_SOFTHSM_MODULE  (default /usr/lib/softhsm/libsofthsm2.so)
#   BENCH_RUNS          new clients per server for the median (default 7)
#   BENCH_ROUNDS        rounds of each signing rate, servers in turn (default 3)
#   BENCH_SECS          seconds per signing round (default 2)
#   BENCH_CLIENTS       concurrent clients (default 8)
#   BENCH_OUT           also write the report to this file
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-${TOKEND_BUILD_DIR:-$SRC/build}}" && pwd)
TOKEND=${TOKEND:-$BUILD/daemon/tokend}
SOFTHSM=${TOKEND_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
CLIENT=${E2E_CLIENT:-/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so}
for f in "$TOKEND" "$SOFTHSM" "$CLIENT"; do
	[ -e "$f" ] || { echo "missing: $f" >&2; exit 1; }
done
for c in softhsm2-util pkcs11-tool p11-kit; do
	command -v "$c" >/dev/null || { echo "missing: $c" >&2; exit 1; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/tokend-bench-module.XXXXXX")
PIDS=()
cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	sleep 0.5
	for p in "${PIDS[@]}"; do
		pkill -KILL -P "$p" 2>/dev/null || true
		kill -KILL "$p" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ]; then
		echo "bench failed; logs in $T" >&2
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT

# The token: one EC P-256 key (CKA_ID 01) and one RSA-2048 key (02).
mkdir "$T/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$T" >"$T/softhsm2.conf"
export SOFTHSM2_CONF=$T/softhsm2.conf
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null
for k in EC:prime256v1:01 rsa:2048:02; do
	pkcs11-tool --module "$SOFTHSM" --login --pin 1234 --keypairgen \
		--key-type "${k%:*}" --id "${k##*:}" >/dev/null
done

cat >"$T/tokend.conf" <<EOF
[tokend]
log-level = notice
# 100 idle clients of one uid
max-connections-per-peer = 256

[piv]
enabled = no

[module softhsm]
path = $SOFTHSM
env = SOFTHSM2_CONF=$SOFTHSM2_CONF

[export bench]
socket = $T/tokend.sock
mode = 0666
EOF
"$TOKEND" -f -c "$T/tokend.conf" >"$T/tokend.log" 2>&1 &
PIDS+=($!)
TOKEND_PID=$!
p11-kit server --provider "$SOFTHSM" -f -n "$T/p11-kit.sock" 'pkcs11:' >"$T/p11-kit.log" 2>&1 &
PIDS+=($!)
P11KIT_PID=$!

# Both serve the token before anything is measured.
for s in tokend p11-kit; do
	for _ in $(seq 100); do
		P11_KIT_SERVER_ADDRESS=unix:path=$T/$s.sock timeout 30 \
			pkcs11-tool --module "$CLIENT" -T 2>/dev/null | grep -q "label *: bench" && break
		sleep 0.1
	done
	P11_KIT_SERVER_ADDRESS=unix:path=$T/$s.sock timeout 30 \
		pkcs11-tool --module "$CLIENT" -T 2>/dev/null | grep -q "label *: bench" ||
		{ cat "$T/$s.log" >&2; echo "$s does not serve the token" >&2; exit 1; }
done

/usr/bin/python3 "$SRC/bench/module_bench.py" measure \
	--server "tokend=$T/tokend.sock:$TOKEND_PID" \
	--server "p11-kit server=$T/p11-kit.sock:$P11KIT_PID" \
	--runs "${BENCH_RUNS:-7}" --rounds "${BENCH_ROUNDS:-3}" --secs "${BENCH_SECS:-2}" \
	--clients "${BENCH_CLIENTS:-8}" --direct "$SOFTHSM" --out "$T/module.json"
# The price of a module in another process: one process round trip.
${CC:-cc} -std=gnu11 -O2 -o "$T/rtt" "$SRC/bench/rtt.c"
RTT=$("$T/rtt")

/usr/bin/python3 "$SRC/bench/module_bench.py" report "$T/module.json" --rtt "$RTT" \
	--note "Token: SoftHSMv2 $(dpkg-query -W -f '${Version}\n' softhsm2 2>/dev/null | head -n 1 || echo '?') (file store), EC P-256 and RSA-2048 keys; one C_Sign = C_SignInit + C_Sign (two round trips), 32 bytes signed (CKM_ECDSA, CKM_RSA_PKCS). Clients: $CLIENT ($(dpkg-query -W -f '${Version}\n' libp11-kit0 2>/dev/null | head -n 1 || echo '?')) through ctypes, one process per connection. Servers up at once, measured in turns; $(nproc) CPUs." \
	--note "Memory: VmRSS / Pss summed over the server and every process it forked (tokend: tokend + its module helper; p11-kit server: one \`p11-kit remote\` + SoftHSMv2 per connection)." |
	tee "$T/report.md"
[ -z "${BENCH_OUT:-}" ] || cp "$T/report.md" "$BENCH_OUT"
