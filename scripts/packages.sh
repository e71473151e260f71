#!/usr/bin/env bash
# Builds tokend's Debian packages (debian/) and puts them through what an
# admin does with them, on this machine, as root:
#
#   build     dpkg-buildpackage -b -us -uc with DEB_BUILD_OPTIONS=nocheck
#             (ctest has run already) in a copy of the tree, in a temp dir
#   lintian   fails on errors
#   debs      contents and maintainer scripts (tests/package/check_debs.sh)
#   install   apt-get install ./tokend_*.deb ./tokend-pkcs11_*.deb; the
#             layout, user, group, units and that nothing runs
#             (tests/package/check_installed.sh)
#   run       the installed /usr/sbin/tokend under systemd-socket-activate,
#             as user tokend, against the virtual card in a private pcscd;
#             a client signs through p11-kit-client.so, openssl verifies,
#             and p11-kit finds the token through the packaged module file
#             (tests/package/run_installed.sh)
#   purge     apt-get purge; nothing of the packages is left, except a
#             non-empty /var/lib/tokend (TPM key blobs), which the purge
#             keeps and says so; the user and group are kept by the purge
#             (Debian practice) and removed here (tests/package/
#             check_purged.sh)
#
# The machine ends as it began: the packages, and the user and groups the
# installation made, are removed also when a step fails. The build
# dependencies stay installed, as deps.sh's do.
#
#   scripts/packages.sh [BUILD_DIR]
#
# BUILD_DIR (default build/) supplies the virtual card and tokend-pcsc-wait;
# they are built there when missing. TOKEND_KEEP_TMP=1 keeps the temp dir.
source "$(dirname "$0")/common.sh"
as_root "$@"

BUILD=${1:-$TOP/build}
PKG_TESTS=$TOP/tests/package
PKGS=(tokend tokend-pkcs11)
export DEBIAN_FRONTEND=noninteractive

# step NAME: starts a step and prints how long the last one took.
STEP=
step_t0=
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
step() {
	[ -z "$step_t0" ] || echo "== packages: $STEP took $(since "$step_t0") s"
	STEP=$1
	step_t0=$EPOCHREALTIME
	[ -z "$STEP" ] || echo "== packages: $STEP"
}
t_start=$EPOCHREALTIME

for p in "${PKGS[@]}"; do
	if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qv '^not-installed$'; then
		echo "packages.sh: $p is installed on this machine; this script installs and purges it: remove it first" >&2
		exit 1
	fi
done

TMP=$(mktemp -d /tmp/tokend-packages.XXXXXX)
chmod 0755 "$TMP"
had_user=$(getent passwd tokend >/dev/null && echo 1 || echo 0)
had_group=$(getent group tokend >/dev/null && echo 1 || echo 0)
had_tss=$(getent group tss >/dev/null && echo 1 || echo 0)
had_admin=$(getent group tokend-admin >/dev/null && echo 1 || echo 0)


cleanup() {
	local rc=$?
	set +e
	for p in "${PKGS[@]}"; do
		if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qv '^not-installed$'; then
			echo "packages.sh: purging $p (cleanup)" >&2
			apt-get purge -y -q "$p" >/dev/null
		fi
	done
	# The purge keeps the state directory when it is not empty.
	rm -rf /var/lib/tokend
	[ "$had_user" = 1 ] || ! getent passwd tokend >/dev/null || userdel tokend
	[ "$had_group" = 1 ] || ! getent group tokend >/dev/null || groupdel tokend
	[ "$had_tss" = 1 ] || ! getent group tss >/dev/null || groupdel tss
	[ "$had_admin" = 1 ] || ! getent group tokend-admin >/dev/null || groupdel tokend-admin
	if [ "$rc" -ne 0 ] || [ -n "${TOKEND_KEEP_TMP:-}" ]; then
		echo "packages.sh: temp dir kept: $TMP" >&2
	else
		rm -rf "$TMP"
	fi
	[ "$rc" -eq 0 ] && echo "packages: all passed" || echo "packages: FAILED ($STEP)" >&2
	exit "$rc"
}
trap cleanup EXIT

step "build dependencies"
"$TOP/scripts/deps.sh" >/dev/null
apt-get install -y -q --no-install-recommends debhelper lintian dpkg-dev >/dev/null
# Exactly the Build-Depends of debian/control.
apt-get build-dep -y -q "$TOP" >/dev/null
if [ ! -x "$BUILD/tests/vcard/tokend-vcard" ] || [ ! -x "$BUILD/tests/tools/tokend-pcsc-wait" ]; then
	build "$BUILD" >/dev/null
fi

# pkg_leftovers: what of the packages is on the machine.
# shellcheck source=../tests/package/lib.sh
. "$PKG_TESTS/lib.sh"

step "build"
cmake_version=$(sed -n 's/^project(tokend VERSION \([0-9.]*\).*/\1/p' "$TOP/CMakeLists.txt")
deb_version=$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)
if [ "$cmake_version" != "$deb_version" ]; then
	echo "packages.sh: debian/changelog says $deb_version, CMakeLists.txt project(VERSION) $cmake_version" >&2
	exit 1
fi
# A copy of the tree (tracked and new files, not build trees), so the .debs
# land in our temp dir, not in the checkout's parent.
mkdir "$TMP/src"
if git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$TOP" ls-files -z -co --exclude-standard | tar -C "$TOP" --null -T - -cf - | tar -C "$TMP/src" -xf -
else
	tar -C "$TOP" --exclude='./build*' -cf - . | tar -C "$TMP/src" -xf -
fi
(cd "$TMP/src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -b -us -uc) \
	>"$TMP/build.log" 2>&1 || { tail -50 "$TMP/build.log"; exit 1; }
arch=$(dpkg --print-architecture)
DEBS=("$TMP/tokend_${deb_version}_$arch.deb" "$TMP/tokend-pkcs11_${deb_version}_$arch.deb")
ls -l "${DEBS[@]}"

step "lintian"
# Errors fail; warnings and info are shown.
lintian --fail-on error --display-info "$TMP/tokend_${deb_version}_$arch.changes" 2>&1 |
	grep -v 'running with root privileges' || true
lintian --fail-on error -q "$TMP/tokend_${deb_version}_$arch.changes" >/dev/null 2>&1 ||
	{ echo "FAIL: lintian reports errors" >&2; exit 1; }

step "package contents"
"$PKG_TESTS/check_debs.sh" "${DEBS[@]}"

step "install"
pkg_leftovers >"$TMP/before.list"
apt-get install -y -q "${DEBS[@]}" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; exit 1; }
"$PKG_TESTS/check_installed.sh"

step "run the installed tokend"
TOKEND_VCARD=$BUILD/tests/vcard/tokend-vcard TOKEND_PCSC_WAIT=$BUILD/tests/tools/tokend-pcsc-wait \
	"$TOP/tests/harness/private_pcscd.sh" "$PKG_TESTS/run_installed.sh"

step "purge"
# A stand-in for a TPM key blob: the purge must keep it.
echo blob >/var/lib/tokend/tpm-key.test
apt-get purge -y -q "${PKGS[@]}" >"$TMP/purge.log" 2>&1 || { cat "$TMP/purge.log"; exit 1; }
"$PKG_TESTS/check_purged.sh" "$TMP/before.list" "$TMP/purge.log" "${DEBS[@]}"
rm -rf /var/lib/tokend

step "install and purge again (empty state directory)"
apt-get install -y -q "${DEBS[@]}" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; exit 1; }
# An upgrade with the same version: the maintainer scripts' upgrade path.
apt-get install -y -q --reinstall "${DEBS[@]}" >>"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; exit 1; }
"$PKG_TESTS/check_installed.sh" 2>&1 | grep -v '^ok:'
apt-get purge -y -q "${PKGS[@]}" >"$TMP/purge.log" 2>&1 || { cat "$TMP/purge.log"; exit 1; }
pkg_leftovers >"$TMP/after.list"
if ! diff -u "$TMP/before.list" "$TMP/after.list"; then
	echo "FAIL: files left after the second purge" >&2
	exit 1
fi

step ""
echo "== packages: total $(since "$t_start") s"
