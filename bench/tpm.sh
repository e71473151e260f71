#!/usr/bin/env bash
# The TPM token on ONE swtpm, three contenders in turn (swtpm serves one
# TCP client at a time): tokend's socket (tokend with [tpm] tcti =
# swtpm:..., Debian's p11-kit-client.so), tokend's in-process module
# ([tpm] in-process = yes, same state) and tpm2-pkcs11 (Debian's
# libtpm2-pkcs11-1, token made with tpm2_ptool in a temporary
# TPM2_PKCS11_STORE, ESYSDB backend, tpm2-abrmd on a private D-Bus session
# bus as its own tests run it). tpm_bench.py measures each: key generation
# (EC P-256, RSA-2048, BENCH_KEYGEN each) and signatures/s on one session
# (login once, C_Sign in a loop for BENCH_SECS s). startup.py measures
# tokend's exec-to-READY=1 with the TPM token (and until the token is up).
# Prints a markdown table; asserts nothing on timings.
#
#   bench/tpm.sh [BUILD_DIR]
#
# Environment:
#   TOKEND              tokend binary (default BUILD_DIR/daemon/tokend)
#   TOKEND_MODULE       in-process module (default BUILD_DIR/pkcs11/tokend-pkcs11.so)
#   TPM2_PKCS11_MODULE  (default /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so)
#   BENCH_SECS          seconds of signing per key type (default 5)
#   BENCH_KEYGEN        key pairs generated per type (default 3)
#   BENCH_RUNS          tokend start-ups (default 10)
#   BENCH_ROUNDS        signing rounds, contenders in turn (default 3)
#   BENCH_OUT           also write the report to this file
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-${TOKEND_BUILD_DIR:-$SRC/build}}" && pwd)
TOKEND=${TOKEND:-$BUILD/daemon/tokend}
MODULE=${TOKEND_MODULE:-$BUILD/pkcs11/tokend-pkcs11.so}
TPM2P11=${TPM2_PKCS11_MODULE:-/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so}
CLIENT=${E2E_CLIENT:-/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so}
SECS=${BENCH_SECS:-5}
KEYGEN=${BENCH_KEYGEN:-3}
RUNS=${BENCH_RUNS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
for f in "$TOKEND" "$MODULE" "$TPM2P11" "$CLIENT"; do
	[ -e "$f" ] || { echo "missing: $f" >&2; exit 1; }
done
for c in swtpm pkcs11-tool tpm2_ptool tpm2-abrmd dbus-daemon tpm2_getcap openssl; do
	command -v "$c" >/dev/null || { echo "missing: $c" >&2; exit 1; }
done

# shellcheck source=../tests/harness/swtpm.sh
. "$SRC/tests/harness/swtpm.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/tokend-bench-tpm.XXXXXX")
PIDS=()
stop_pids() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}
cleanup() {
	local rc=$?
	set +e
	stop_pids
	swtpm_stop
	if [ "$rc" -ne 0 ]; then
		echo "bench failed; logs in $T" >&2
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

swtpm_start || { echo "swtpm did not start" >&2; exit 1; }
TCTI=$TOKEND_TEST_TCTI
B=(/usr/bin/python3 "$SRC/bench/tpm_bench.py" --secs "$SECS")
SOPIN=87654321 PIN=123456

# 1. tokend's socket.
cat >"$T/tokend.conf" <<EOF
[tokend]
log-level = notice

[piv]
enabled = no

[tpm]
tcti = $TCTI
state = $T/tpm
label = bench-tpm

[export bench]
socket = $T/tokend.sock
mode = 0666
access = full

# C_InitToken and C_InitPIN need an admin export.
[export admin]
socket = $T/admin.sock
mode = 0600
access = admin
EOF
p11=(pkcs11-tool --module "$CLIENT")
TOKEND_PID=
tokend_up() {
	"$TOKEND" -f -c "$T/tokend.conf" >>"$T/tokend.log" 2>&1 &
	TOKEND_PID=$!
	PIDS+=("$TOKEND_PID")
	for i in $(seq 101); do
		P11_KIT_SERVER_ADDRESS=unix:path=$T/admin.sock "${p11[@]}" -L 2>/dev/null |
			grep -q "token label *: bench-tpm" && return 0
		[ "$i" -le 100 ] || { echo "the TPM token did not appear" >&2; exit 1; }
		sleep 0.1
	done
}
ABRMD_PID=
abrmd_up() {
	tpm2-abrmd --session --allow-root --tcti="$TCTI" >>"$T/abrmd.log" 2>&1 &
	ABRMD_PID=$!
	PIDS+=("$ABRMD_PID")
	for i in $(seq 101); do
		tpm2_getcap -T "$TPM2TOOLS_TCTI" properties-fixed >/dev/null 2>&1 && return 0
		[ "$i" -le 100 ] || { echo "tpm2-abrmd does not answer (libtss2-tcti-tabrmd0?)" >&2; exit 1; }
		sleep 0.1
	done
}
# Stops one of PIDS (the TPM then has no client: swtpm serves one at a time).
stop_pid() {
	local p=$1 q keep=()
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
	PIDS=("${keep[@]}")
}

# The tokens: tokend's initialised through an admin export; tpm2-pkcs11's
# made by tpm2_ptool in a temporary store.
tokend_up
P11_KIT_SERVER_ADDRESS=unix:path=$T/admin.sock "${p11[@]}" --init-token \
	--so-pin "$SOPIN" --label bench-tpm >/dev/null 2>&1
P11_KIT_SERVER_ADDRESS=unix:path=$T/admin.sock "${p11[@]}" --login --login-type so \
	--so-pin "$SOPIN" --init-pin --pin "$PIN" >/dev/null 2>&1
stop_pid "$TOKEND_PID"
sed 's/^label = bench-tpm$/&\nin-process = yes/' "$T/tokend.conf" >"$T/inproc.conf"

dbus=$(dbus-daemon --session --fork --print-address=1 --print-pid=1)
export DBUS_SESSION_BUS_ADDRESS=${dbus%%$'\n'*}
PIDS+=("${dbus##*$'\n'}")
export TPM2TOOLS_TCTI=tabrmd:bus_type=session TPM2_PKCS11_TCTI=tabrmd:bus_type=session
export TPM2_PKCS11_STORE=$T/store TPM2_PKCS11_BACKEND=esysdb TPM2_PKCS11_LOG_LEVEL=0
mkdir "$TPM2_PKCS11_STORE"
abrmd_up
tpm2_ptool init --path "$TPM2_PKCS11_STORE" >"$T/ptool.log" 2>&1
tpm2_ptool addtoken --pid 1 --sopin "$SOPIN" --userpin "$PIN" --label bench-t2p \
	--path "$TPM2_PKCS11_STORE" >>"$T/ptool.log" 2>&1
stop_pid "$ABRMD_PID"

# Rounds, the contenders in turn; keys are generated in the first.
for r in $(seq "$ROUNDS"); do
	kg=0
	[ "$r" -gt 1 ] || kg=$KEYGEN
	tokend_up
	P11_KIT_SERVER_ADDRESS=unix:path=$T/tokend.sock "${B[@]}" --keygen "$kg" \
		--module "$CLIENT" --token bench-tpm --pin "$PIN" --id-base 1 >>"$T/socket.json"
	stop_pid "$TOKEND_PID"
	TOKEND_CONF=$T/inproc.conf "${B[@]}" --keygen "$kg" --module "$MODULE" \
		--token bench-tpm --pin "$PIN" --id-base 16 >>"$T/inproc.json"
	abrmd_up
	"${B[@]}" --keygen "$kg" --module "$TPM2P11" --token bench-t2p --pin "$PIN" \
		--id-base 1 >>"$T/tpm2p11.json"
	stop_pid "$ABRMD_PID"
done

# tokend's start-up with this TPM token (its keys in the state).
S=(/usr/bin/python3 "$SRC/bench/startup.py" --tokend "$TOKEND" --config "$T/tokend.conf" --runs "$RUNS")
startup=$("${S[@]}" --case "TPM token (swtpm)" --card --settle 10)

report=$T/report.md
/usr/bin/python3 - "$T" "$startup" >"$report" <<'PY'
import json, os, statistics, sys
def load(name):
    rows = [json.loads(l) for l in open(os.path.join(sys.argv[1], name + ".json"))]
    med = {k: statistics.median(r[k] for r in rows) for k in ("ec_per_s", "rsa_per_s")}
    med.update({k: rows[0][k] for k in ("ec_keygen_ms", "rsa_keygen_ms")})
    med["n"] = len(rows)
    return med
t2p = load("tpm2p11")
cols = [("tokend socket", load("socket")), ("tokend in-process", load("inproc")),
        ("tpm2-pkcs11 + abrmd", t2p)]
def rate(d, k):
    return "%.0f" % d[k] + (" (%.2fx)" % (d[k] / t2p[k]) if d is not t2p else "")
def kg(d, k):
    v = d[k]
    return "%.0f (%.0f–%.0f)" % (statistics.median(v), min(v), max(v))
def row(name, f, k):
    print("| %s | %s |" % (name, " | ".join(f(d, k) for _, d in cols)))
print("| | " + " | ".join(c for c, _ in cols) + " |")
print("|---|" + "---:|" * len(cols))
row("ECDSA P-256 signatures/s, one session", rate, "ec_per_s")
row("RSA-2048 signatures/s (SHA256-RSA-PKCS), one session", rate, "rsa_per_s")
row("P-256 key generation, median ms (min–max)", kg, "ec_keygen_ms")
row("RSA-2048 key generation, median ms (min–max)", kg, "rsa_keygen_ms")
print("| PIN protected on the TPM's bus | yes: salted HMAC session, AES-128-CFB both ways "
      "| yes: the same | yes: HMAC session salted to and bound to its primary key, "
      "AES-128-CFB both ways |")
print()
r = [c.strip() for c in sys.argv[2].strip().split("|")[1:-1]]
print("tokend start-up with the TPM token: exec to READY=1 median %s ms (p90 %s, "
      "max %s), token up (from exec) median %s ms, idle RSS %s KiB (%s runs)." % (
          r[2], r[3], r[4], r[5], r[6], r[1]))
print()
print("Signing rates: median of %d rounds, the contenders in turn." % t2p["n"])
PY
{
	echo
	echo "swtpm $(swtpm --version 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p'), $(uname -m), $(nproc) CPUs; ${SECS} s of C_Sign per round, $KEYGEN key pairs per type, $(date -u +%F)."
} >>"$report"
[ -z "${BENCH_OUT:-}" ] || cp "$report" "$BENCH_OUT"
cat "$report"
