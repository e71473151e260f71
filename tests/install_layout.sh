#!/usr/bin/env bash
# cmake --install of this build into a staging directory puts the module,
# its p11-kit module file, the daemon, its config example and the systemd
# files where a package needs them, and p11-kit can load the module by name.
set -euo pipefail
build=$1
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

DESTDIR=$stage cmake --install "$build" --prefix /usr >/dev/null
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
for f in "usr/$libdir/pkcs11/tokend-pkcs11.so" usr/share/p11-kit/modules/tokend.module \
	usr/sbin/tokend usr/lib/systemd/system/tokend.service usr/lib/systemd/system/tokend.socket \
	usr/lib/sysusers.d/tokend.conf usr/lib/tmpfiles.d/tokend.conf usr/include/tokend-pkcs11.h; do
	[ -e "$stage/$f" ] || { echo "FAIL: $f not installed"; find "$stage" -type f; exit 1; }
done
find "$stage" -name tokend.conf.example | grep -q . || { echo "FAIL: no config example"; exit 1; }
grep -qx 'module: tokend-pkcs11.so' "$stage/usr/share/p11-kit/modules/tokend.module" ||
	{ echo "FAIL: module file does not name tokend-pkcs11.so"; exit 1; }
# Only the three PKCS#11 getters are exported.
syms=$(nm -D --defined-only "$stage/usr/$libdir/pkcs11/tokend-pkcs11.so" | awk '$2 == "T" { print $3 }' | sort | tr '\n' ' ')
[ "$syms" = "C_GetFunctionList C_GetInterface C_GetInterfaceList " ] ||
	{ echo "FAIL: exported symbols: $syms"; exit 1; }
echo "install layout ok"
