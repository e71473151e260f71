#!/usr/bin/env bash
# p11kit-clients.sh BUILD_DIR: builds the newer p11-kit client modules the
# e2e tests also run with (Debian 12 ships 0.24.1; containers run 0.25/0.26)
# from the tarballs in ../shared/third_party beside the checkout, each into
# a private prefix BUILD_DIR/p11kit/VERSION:
#   lib/pkcs11/p11-kit-client.so   the client module (E2E_CLIENT)
#   lib/libp11-kit.so*             for programs linking libp11-kit (p11tool,
#                                  with LD_LIBRARY_PATH=PREFIX/lib)
# Only these two targets are built (no tools, trust module, docs, tests).
# A version already built from the same tarball is skipped; the versions
# build in parallel. Needs meson, ninja-build, libffi-dev (scripts/deps.sh).
set -euo pipefail

VERSIONS=(0.25.5 0.26.4)

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -eq 1 ] || {
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
}
mkdir -p "$1"
OUT=$(cd "$1" && pwd)/p11kit
THIRD=${TOKEND_THIRD_PARTY:-$TOP/../shared/third_party}
# A git worktree elsewhere: beside the main checkout.
if [ -z "${TOKEND_THIRD_PARTY:-}" ] && [ ! -d "$THIRD" ]; then
	common=$(git -C "$TOP" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
	[ -n "$common" ] && [ -d "$common/../../shared/third_party" ] && THIRD=$common/../../shared/third_party
fi

die() {
	echo "p11kit-clients.sh: $*" >&2
	exit 1
}

[ -d "$THIRD/p11-kit" ] ||
	die "no $THIRD/p11-kit: the p11-kit tarballs are expected in ../shared/third_party beside the checkout (or set TOKEND_THIRD_PARTY)"
for tool in meson ninja cc; do
	command -v "$tool" >/dev/null || die "$tool is not installed (run scripts/deps.sh)"
done

# build_one VERSION: extracts, configures, builds and installs into
# OUT/VERSION.tmp, then renames it to OUT/VERSION so a prefix that exists is
# complete.
build_one() {
	local v=$1 tarball src prefix sum opts
	tarball=$THIRD/p11-kit/p11-kit-$v.tar.gz
	[ -f "$tarball" ] || die "missing $tarball"
	prefix=$OUT/$v
	sum=$(sha256sum "$tarball" | cut -d' ' -f1)
	if [ -f "$prefix/.stamp" ] && [ "$(cat "$prefix/.stamp")" = "$sum" ]; then
		echo "p11-kit $v: already built in $prefix"
		return 0
	fi
	rm -rf "$prefix" "$prefix.tmp" "$OUT/src-$v"
	mkdir -p "$OUT/src-$v"
	tar -xzf "$tarball" -C "$OUT/src-$v" --strip-components=1
	src=$OUT/src-$v
	opts=(-Dtrust_module=disabled -Dgtk_doc=false -Dman=false -Dnls=false -Dtest=false
		-Dsystemd=disabled -Dbash_completion=disabled)
	# 0.25.x has no zsh completion option.
	grep -q "option('zsh_completion'" "$src/meson_options.txt" && opts+=(-Dzsh_completion=disabled)
	meson setup "$src/build" "$src" --prefix="$prefix" --libdir=lib \
		--buildtype=debugoptimized "${opts[@]}" >"$OUT/$v.log" 2>&1 ||
		die "meson setup of $v failed, see $OUT/$v.log"
	meson compile -C "$src/build" p11-kit-client p11-kit:shared_library >>"$OUT/$v.log" 2>&1 ||
		die "build of $v failed, see $OUT/$v.log"
	mkdir -p "$prefix.tmp/lib/pkcs11"
	cp "$src/build/p11-kit/p11-kit-client.so" "$prefix.tmp/lib/pkcs11/"
	find "$src/build/p11-kit" -maxdepth 1 -name 'libp11-kit.so*' \( -type f -o -type l \) \
		-exec cp -P {} "$prefix.tmp/lib/" \;
	echo "$sum" >"$prefix.tmp/.stamp"
	mv "$prefix.tmp" "$prefix"
	rm -rf "$src"
	echo "p11-kit $v: built in $prefix"
}

mkdir -p "$OUT"
pids=()
for v in "${VERSIONS[@]}"; do
	build_one "$v" &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do
	wait "$p" || rc=1
done
exit $rc
