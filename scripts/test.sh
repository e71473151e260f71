#!/usr/bin/env bash
# Installs what tokend needs, builds it five ways (plain, arm64 under
# qemu-user, ASan+UBSan, clang with libFuzzer, ThreadSanitizer) and runs
# the test suite in each. The newer p11-kit clients the e2e tests also run with are built once, into
# build/p11kit, and shared by the trees.
source "$(dirname "$0")/common.sh"
as_root "$@"

"$TOP/scripts/deps.sh"

rc=0
run_suite() {
	local dir=$1
	shift
	echo "== ctest in $dir"
	ctest --test-dir "$dir" --output-on-failure --timeout 600 "$@" && return 0
	rc=1
	why_failed "$dir" >>"$WHY" || true
}

# Why each failed test of the last ctest in DIR failed: its FAIL lines and
# sanitizer summaries from ctest's log.
why_failed() {
	echo "== why tests failed in $1 ($(date -u +%H:%M))"
	awk '/^[0-9]+\/[0-9]+ Test: / { name = $3; n = 0; buf = "" }
	     /FAIL|SUMMARY: |WARNING: ThreadSanitizer|ERROR: |runtime error|\[  FAILED  \]|Timeout|exited with/ {
		if (n++ < 12) buf = buf "   " substr($0, 1, 200) "\n" }
	     /^Test Failed\.|^Test Passed\./ {
		if ($0 ~ /Failed/) printf "%s:\n%s", name, buf
		name = "" }' "$1/Testing/Temporary/LastTest.log"
}
WHY=$(mktemp)
trap 'rm -f "$WHY"' EXIT

CLIENTS=$TOP/build/p11kit
"$TOP/scripts/p11kit-clients.sh" "$TOP/build"

build "$TOP/build" -DTOKEND_P11KIT_CLIENTS_DIR="$CLIENTS"
run_suite "$TOP/build"

# arm64: cross-built, unit tests and one end-to-end signature under
# qemu-user (reuses build/ for the virtual card).
"$TOP/scripts/arm64.sh" "$TOP/build" || rc=1

# The Debian packages: built, linted, installed, run under
# systemd-socket-activate against the virtual card, purged.
"$TOP/scripts/packages.sh" "$TOP/build" || rc=1

# The unit tests with every leak reported; the rest with tests/lsan.supp
# (see there why).
build "$TOP/build-asan" -DTOKEND_SANITIZE=ON -DTOKEND_P11KIT_CLIENTS_DIR="$CLIENTS"
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite "$TOP/build-asan" -L unit -LE fuzz
LSAN_OPTIONS=suppressions=$TOP/tests/lsan.supp:print_suppressions=0 \
	run_suite "$TOP/build-asan" -LE 'fuzz|unit'
unset ASAN_OPTIONS UBSAN_OPTIONS

CC=clang build "$TOP/build-fuzz" -DTOKEND_FUZZ=ON -DBUILD_TESTING=ON
run_suite "$TOP/build-fuzz" -L fuzz

# ThreadSanitizer: the unit tests and the daemon, e2e and bridge tests, where
# the TSan-built tokend and module helper serve ordinary client programs.
# Tests that load our module into pkcs11-tool or Python (label module)
# cannot run: those programs are not instrumented.
build "$TOP/build-tsan" -DTOKEND_TSAN=ON -DTOKEND_P11KIT_CLIENTS_DIR="$CLIENTS"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$TOP/tests/tsan.supp" \
	run_suite "$TOP/build-tsan" -L 'unit|daemon|e2e|bridge' -LE 'module|fuzz'

# CI shows the start and the end of this output: the end says why each
# failed test failed, which the middle, cut, had at length.
cat "$WHY"
exit $rc
