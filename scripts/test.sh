#!/usr/bin/env bash
# Installs what tokend needs, builds it three ways (plain, ASan+UBSan, clang
# with libFuzzer) and runs the whole test suite in each.
source "$(dirname "$0")/common.sh"
as_root "$@"

"$TOP/scripts/deps.sh"

rc=0
run_suite() {
	local dir=$1
	shift
	echo "== ctest in $dir"
	ctest --test-dir "$dir" --output-on-failure --timeout 600 "$@" || rc=1
}

build "$TOP/build"
run_suite "$TOP/build"

build "$TOP/build-asan" -DTOKEND_SANITIZE=ON
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite "$TOP/build-asan" -LE fuzz

CC=clang build "$TOP/build-fuzz" -DTOKEND_FUZZ=ON -DBUILD_TESTING=ON
run_suite "$TOP/build-fuzz" -L fuzz

exit $rc
