#!/usr/bin/env bash
# The arm64 build in CI: cross-builds the tree for arm64 (aarch64) with
# Debian's cross toolchain and :arm64 libraries (multiarch), runs the unit
# tests under qemu-user, and the arm64 tokend end to end (tests/arm64): under
# qemu-user it serves the host's virtual card through the host's pcscd to
# amd64 clients that sign.
#
#   scripts/arm64.sh [HOST_BUILD_DIR]
#
# HOST_BUILD_DIR (default build/) is the amd64 tree whose virtual card and
# tokend-pcsc-wait the end-to-end test uses; only those two are built there.
# The arm64 tree is build-arm64/; with debian/ in the tree, the arm64 .debs
# land in build-arm64-deb/. Prints how long each part took.
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
as_root "$@"

HOST_BUILD=${1:-$TOP/build}
ARM_BUILD=$TOP/build-arm64

# The :arm64 side of deps.sh's BUILD_PKGS (cmocka for the unit tests), the
# cross compiler and qemu-user. Not libumockdev-dev:arm64: it cannot be
# installed beside the amd64 one (tests/hotplug/CMakeLists.txt).
ARM64_PKGS=(
	crossbuild-essential-arm64 qemu-user file
	libssl-dev:arm64 zlib1g-dev:arm64 libpcsclite-dev:arm64 libcmocka-dev:arm64
	libp11-kit-dev:arm64 libinih-dev:arm64 libsystemd-dev:arm64 libudev-dev:arm64
	libtss2-dev:arm64
)

declare -a TIMES=()
t_start=0
phase() { # NAME: closes the running phase, starts NAME
	local now
	now=$(date +%s)
	if [ -n "${PHASE:-}" ]; then
		TIMES+=("$(printf '%-10s %4d s' "$PHASE" $((now - t_start)))")
	fi
	PHASE=${1:-}
	t_start=$now
	[ -z "$PHASE" ] || echo "== arm64: $PHASE"
}

rc=0
phase apt
export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
fi
# Refresh the lists when arm64's are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*binary-arm64_Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
	apt-get update -q
fi
apt-get install -y -q --no-install-recommends "${ARM64_PKGS[@]}"

phase build
# The host's virtual card and PC/SC waiter, for the end-to-end test.
if [ ! -f "$HOST_BUILD/CMakeCache.txt" ]; then
	cmake -S "$TOP" -B "$HOST_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$HOST_BUILD" -j "$(nproc)" --target tokend-vcard tokend-pcsc-wait
build "$ARM_BUILD" -DCMAKE_TOOLCHAIN_FILE="$TOP/cmake/toolchain-arm64.cmake" \
	-DTOKEND_HOST_BUILD_DIR="$HOST_BUILD"
file "$ARM_BUILD/daemon/tokend" "$ARM_BUILD/pkcs11/tokend-pkcs11.so"

# Tests labelled native check what qemu-user does not emulate.
phase unit
ctest --test-dir "$ARM_BUILD" --output-on-failure --timeout 300 -j "$(nproc)" \
	-L unit -LE native || rc=1

phase e2e
"$TOP/tests/harness/private_pcscd.sh" \
	ctest --test-dir "$ARM_BUILD" --output-on-failure --timeout 300 -L arm64 || rc=1

# The arm64 packages, when the tree has debian/: built from a copy (dh
# writes into the source tree and the .debs beside it) with the cross
# profile and without tests (they would need the emulator; the unit tests
# ran above).
if [ -f "$TOP/debian/control" ]; then
	phase deb
	deb_dir=$ARM_BUILD-deb
	rm -rf "$deb_dir"
	mkdir -p "$deb_dir/src"
	git -C "$TOP" ls-files -z --cached --others --exclude-standard |
		tar -C "$TOP" --null -T - -cf - | tar -C "$deb_dir/src" -xf -
	apt-get build-dep -y -q -a arm64 -Pcross,nocheck "$deb_dir/src"
	if (cd "$deb_dir/src" && DEB_BUILD_OPTIONS=nocheck \
		dpkg-buildpackage -a arm64 -Pcross,nocheck -b -uc -us); then
		for deb in "$deb_dir"/*_arm64.deb; do
			echo "$(basename "$deb"): $(dpkg-deb -f "$deb" Architecture)"
		done
		mkdir -p "$deb_dir/x"
		dpkg-deb -x "$deb_dir"/tokend_*_arm64.deb "$deb_dir/x"
		file "$deb_dir/x/usr/sbin/tokend" | grep -q "ARM aarch64" || {
			echo "arm64: the tokend in tokend_*_arm64.deb is not aarch64" >&2
			rc=1
		}
	else
		rc=1
	fi
fi
phase
echo "== arm64: times"
printf '%s\n' "${TIMES[@]}"
exit $rc
