#!/usr/bin/env bash
# check_debs.sh TOKEND.deb TOKEND-PKCS11.deb: what the built packages hold
# and what their maintainer scripts do. The scripts run here as they would
# on a systemd host (a private /run with /run/systemd/system, and stubs for
# systemctl, deb-systemd-invoke, deb-systemd-helper, systemd-sysusers and
# systemd-tmpfiles that record their calls), since CI has no systemd as
# PID 1: installing starts tokend.socket and never tokend.service, an
# upgrade stops and restarts nothing, removing stops both, the user comes
# before the directories it owns.
. "$(dirname "$0")/lib.sh"
DEB=$1
DEB_SO=$2
T=$(mktemp -d /tmp/tokend-debs.XXXXXX)
trap 'rm -rf "$T"' EXIT

# ---- contents ----
dpkg-deb -x "$DEB" "$T/root"
dpkg-deb -e "$DEB" "$T/ctl"
dpkg-deb -x "$DEB_SO" "$T/root-so"
for f in usr/sbin/tokend usr/sbin/tokend-module-helper lib/systemd/system/tokend.service lib/systemd/system/tokend.socket \
	usr/lib/sysusers.d/tokend.conf usr/lib/tmpfiles.d/tokend.conf lib/udev/rules.d/70-tokend.rules \
	etc/tokend/tokend.conf.example usr/share/p11-kit/modules/tokend.module \
	usr/share/man/man8/tokend.8.gz usr/share/man/man5/tokend.conf.5.gz \
	usr/share/doc/tokend/README.Debian usr/share/doc/tokend/copyright; do
	check "tokend ships /$f" test -e "$T/root/$f"
done
for f in "usr/lib/$PKG_MULTIARCH/pkcs11/tokend-pkcs11.so" usr/include/tokend-pkcs11.h \
	usr/share/man/man8/tokend-pkcs11.8.gz; do
	check "tokend-pkcs11 ships /$f" test -e "$T/root-so/$f"
done
check "tokend ships no config, only the example" test ! -e "$T/root/etc/tokend/tokend.conf"
check "the example config is the only conffile" \
	test "$(cat "$T/ctl/conffiles")" = /etc/tokend/tokend.conf.example
check "the p11-kit module file points at the daemon's socket" \
	grep -qx 'remote: unix:path=/run/tokend/pkcs11' "$T/root/usr/share/p11-kit/modules/tokend.module"
check "the p11-kit module file does not load the module in process" \
	test -z "$(grep '^module:' "$T/root/usr/share/p11-kit/modules/tokend.module")"
check "no p11-kit module file in tokend-pkcs11" test ! -d "$T/root-so/usr/share/p11-kit"
check "the man pages are troff" sh -c "zcat '$T/root/usr/share/man/man5/tokend.conf.5.gz' | grep -q '^\.TH'"

# ---- maintainer scripts, as on a systemd host ----
mkdir -p "$T/bin"
for c in systemctl deb-systemd-invoke deb-systemd-helper systemd-sysusers systemd-tmpfiles; do
	printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n' "$c" "$T" >"$T/bin/$c"
	# A fresh host: deb-systemd-helper has enabled no unit of ours yet.
	[ "$c" != deb-systemd-helper ] || echo '[ "$1" != debian-installed ] || exit 1' >>"$T/bin/$c"
	echo 'exit 0' >>"$T/bin/$c"
	chmod +x "$T/bin/$c"
done
has() { grep -Eq -- "$1" <<<"$2"; }
lacks() { ! grep -Eq -- "$1" <<<"$2"; }
# run_script NAME ARGS...: the calls one maintainer script makes.
run_script() {
	local s=$1
	shift
	: >"$T/calls"
	[ -f "$T/ctl/$s" ] || return 0
	unshare --mount --propagation private -- sh -c '
		mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system &&
		PATH="$1:$PATH" sh -e "$2" "$3" "$4"' sh "$T/bin" "$T/ctl/$s" "$@" ||
		fail "$s $* failed"
	cat "$T/calls"
}
calls=$(run_script postinst configure "")
harness_log "fresh install: $(echo "$calls" | tr '\n' ';')"
check "install: the user is made before the directories" \
	test "$(echo "$calls" | grep -nE '^systemd-(sysusers|tmpfiles)' | cut -d' ' -f1)" = "$(printf '1:systemd-sysusers\n2:systemd-tmpfiles')"
check "install: tokend.socket is enabled" has "deb-systemd-helper enable tokend.socket" "$calls"
check "install: tokend.socket is started" has "deb-systemd-invoke start tokend.socket" "$calls"
check "install: tokend.service is not enabled" lacks "enable tokend.service" "$calls"
check "install: tokend.service is not started" lacks "start tokend.service" "$calls"
calls=$(run_script prerm upgrade 0.1.0)$(run_script postinst configure 0.1.0)
harness_log "upgrade: $(echo "$calls" | tr '\n' ';')"
check "upgrade: nothing is stopped or restarted" lacks "stop|restart" "$calls"
calls=$(run_script prerm remove)
harness_log "remove: $(echo "$calls" | tr '\n' ';')"
check "remove: tokend.service is stopped" has "deb-systemd-invoke stop tokend.service" "$calls"
check "remove: tokend.socket is stopped" has "deb-systemd-invoke stop tokend.socket" "$calls"
check "purge message names the TPM key blobs" grep -q "TPM-wrapped" "$T/ctl/postrm"
finish
