#!/usr/bin/env bash
# tokend --check-config: a good file passes, and each validation rule
# refuses a bad file with "FILE:LINE: reason".
. "$(dirname "$0")/lib.sh"

C="$T/c.conf"

# good WHAT < config: --check-config accepts the file and prints OK.
good() {
	local what=$1 out
	cat >"$C"
	if out=$("$TOKEND" --check-config -c "$C" 2>&1) && [[ $out == *OK* ]]; then
		pass "$what"
	else
		fail_later "$what: $out"
	fi
}

# bad WHAT LINE TEXT < config: refused, "$C:LINE: ...TEXT..." on stderr.
bad() {
	local what=$1 line=$2 text=$3 out rc=0
	cat >"$C"
	out=$("$TOKEND" --check-config -c "$C" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ] && [[ $out == *"$C:$line: "*"$text"* ]]; then
		pass "$what"
	else
		fail_later "$what: rc=$rc, wanted '$C:$line: ...$text', got: $out"
	fi
}

# refused WHAT TEXT OUTPUT RC
refused() {
	if [ "$4" -ne 0 ] && [[ $3 == *"$2"* ]]; then
		pass "$1"
	else
		fail_later "$1: rc=$4, wanted '$2', got: $3"
	fi
}

printf '1234\n' >"$T/pin"
chmod 0600 "$T/pin"

good "a file using every key" <<EOF
# comment
[tokend]
log-level = info
state-dir = /var/lib/tokend
max-connections-per-export = 32
max-sessions-per-connection = 16
max-message-size = 2M
max-attributes = 128
max-connections-per-peer = 8
max-workers = 16
handshake-timeout = 5
pin-tries-reserved = 2

[export alice]
socket = $T/alice.sock
owner = nobody
group = nogroup
mode = 0600
allow-users = root, 1234 nobody
allow-groups = nogroup 4321
  5000, 5001
tokens = pkcs11:manufacturer=piv_II pkcs11:token=YubiKey%20PIV;serial=0123
objects = pkcs11:id=%01;type=private
  pkcs11:object=Device%20key
access = read-only
pin-file = $T/pin

[export bob]
access = admin
socket = $T/bob.sock
EOF

rc=0
out=$("$TOKEND" --check-config -c "$T/missing.conf" 2>&1) || rc=$?
refused "a missing -c file is an error" "$T/missing.conf: No such file" "$out" $rc

bad "unknown section" 2 "unknown section [exports]" <<EOF
# x
[exports]
socket = /run/x
EOF
bad "unknown key" 3 "unknown key 'sockets' in [export a]" <<EOF
[export a]
socket = /run/a
sockets = /run/b
EOF
bad "unknown key in [tokend]" 2 "unknown key 'colour' in [tokend]" <<EOF
[tokend]
colour = blue
EOF
bad "bad mode (not octal)" 3 "bad mode '0999'" <<EOF
[export a]
socket = /run/a
mode = 0999
EOF
bad "bad mode (too large)" 3 "bad mode '1777'" <<EOF
[export a]
socket = /run/a
mode = 1777
EOF
bad "unknown owner" 3 "unknown user 'no-such-user-h8'" <<EOF
[export a]
socket = /run/a
owner = no-such-user-h8
EOF
bad "unknown group" 3 "unknown group 'no-such-group-h8'" <<EOF
[export a]
socket = /run/a
group = no-such-group-h8
EOF
bad "unknown user in allow-users" 3 "unknown user 'no-such-user-h8' in allow-users" <<EOF
[export a]
socket = /run/a
allow-users = root,no-such-user-h8
EOF
bad "unknown group in allow-groups (continuation line)" 4 \
	"unknown group 'no-such-group-h8' in allow-groups" <<EOF
[export a]
socket = /run/a
allow-groups = root
  no-such-group-h8
EOF
bad "relative socket path" 2 "socket path must be absolute: 'run/a'" <<EOF
[export a]
socket = run/a
EOF
bad "socket path too long" 2 "socket path longer than 107 bytes" <<EOF
[export a]
socket = /$(printf 'x%.0s' $(seq 120))
EOF
bad "duplicate socket paths" 6 "socket /run/a is already used by [export a] (line 2)" <<EOF

[export a]
socket = /run/a

[export b]
socket = /run/a
EOF
bad "bad URI" 3 "bad PKCS#11 token URI 'file:foo'" <<EOF
[export a]
socket = /run/a
tokens = pkcs11:model=x file:foo
EOF
bad "bad access value" 3 "bad access 'rw': expected 'read-only', 'full' or 'admin'" <<EOF
[export a]
socket = /run/a
access = rw
EOF
bad "pin-file missing" 3 "pin-file $T/nopin: No such file or directory" <<EOF
[export a]
socket = /run/a
pin-file = $T/nopin
EOF
cp "$T/pin" "$T/pin-g"
chmod 0640 "$T/pin-g"
bad "pin-file group readable" 3 \
	"pin-file $T/pin-g must be a regular file that group and others cannot access" <<EOF
[export a]
socket = /run/a
pin-file = $T/pin-g
EOF
cp "$T/pin" "$T/pin-w"
chmod 0604 "$T/pin-w"
bad "pin-file world readable" 3 "cannot access (mode 0600 or stricter)" <<EOF
[export a]
socket = /run/a
pin-file = $T/pin-w
EOF
cp "$T/pin" "$T/pin-o"
chmod 0600 "$T/pin-o"
chown 1234:1234 "$T/pin-o"
bad "pin-file owned by another user" 3 "owned by root or the daemon's user" <<EOF
[export a]
socket = /run/a
pin-file = $T/pin-o
EOF
mkfifo -m 0600 "$T/pin-f"
bad "pin-file a FIFO (refused, never blocks)" 3 "must be a regular file" <<EOF
[export a]
socket = /run/a
pin-file = $T/pin-f
EOF
ln -s "$T/pin-g" "$T/pin-lg"
bad "pin-file symlink to a group-readable file" 3 "must be a regular file" <<EOF
[export a]
socket = /run/a
pin-file = $T/pin-lg
EOF
ln -s "$T/pin" "$T/pin-l"
good "pin-file symlink to a 0600 file (secret mounts)" <<EOF
[export a]
socket = /run/a
pin-file = $T/pin-l
EOF
: >"$T/pin-e"
chmod 0600 "$T/pin-e"
bad "pin-file empty" 3 "pin-file $T/pin-e is empty" <<EOF
[export a]
socket = /run/a
pin-file = $T/pin-e
EOF
# The longest PIN tokend can pass on to a token is 64 bytes.
head -c 64 /dev/zero | tr '\0' 7 >"$T/pin-64"
head -c 65 /dev/zero | tr '\0' 7 >"$T/pin-65"
chmod 0600 "$T/pin-64" "$T/pin-65"
good "pin-file of 64 bytes" <<EOF
[export a]
socket = /run/a
pin-file = $T/pin-64
EOF
bad "pin-file longer than what can be sent" 3 \
	"pin-file $T/pin-65: longer than 64 bytes, the longest PIN tokend can send" <<EOF
[export a]
socket = /run/a
pin-file = $T/pin-65
EOF
# /proc files are "regular", can be mode 0400 and owned by root: they pass
# every other check but hold no PIN anyone wrote.
bad "pin-file on /proc (0400, root's)" 3 "not on /proc, /sys" <<EOF
[export a]
socket = /run/a
pin-file = /proc/self/environ
EOF
bad "pin-file relative" 3 "pin-file path must be absolute" <<EOF
[export a]
socket = /run/a
pin-file = pin
EOF

# Unreadable: root reads anything, so check as another user.
cat >"$C" <<EOF
[export a]
socket = /run/a
pin-file = $T/pin
EOF
chmod 0644 "$C"
rc=0
out=$(setpriv --reuid 1234 --regid 1234 --clear-groups \
	"$TOKEND" --check-config -c "$C" 2>&1) || rc=$?
refused "pin-file unreadable by the daemon's user" \
	"$C:3: pin-file $T/pin: Permission denied" "$out" $rc

bad "export without socket" 3 "[export b] has no 'socket' key" <<EOF
[export a]
socket = /run/a
[export b]
mode = 0600
EOF
bad "empty export section" 1 "[export a] has no 'socket' key" <<EOF
[export a]
EOF
bad "duplicate export" 3 "duplicate section [export a] (first at line 1)" <<EOF
[export a]
socket = /run/a
[export a]
socket = /run/b
EOF
bad "duplicate key" 3 "duplicate key 'mode' in [export a]" <<EOF
[export a]
mode = 0600
mode = 0666
socket = /run/a
EOF
bad "bad export name" 1 "bad export name 'a/b'" <<EOF
[export a/b]
socket = /run/a
EOF
bad "key outside a section" 1 "key 'socket' outside of a section" <<EOF
socket = /run/a
[export a]
socket = /run/a
EOF
bad "syntax error" 3 "syntax error" <<EOF
[export a]
socket = /run/a
this line has no equals sign
EOF
bad "bad limit" 2 "bad value '0'" <<EOF
[tokend]
max-connections-per-export = 0
[export a]
socket = /run/a
EOF
bad "bad object URI" 3 "bad PKCS#11 object URI 'http://x'" <<EOF
[export a]
socket = /run/a
objects = http://x
EOF
bad "pin-tries-reserved out of range" 2 "bad value '16'" <<EOF
[tokend]
pin-tries-reserved = 16
[export a]
socket = /run/a
EOF
bad "max-workers below 2" 2 "bad value '1'" <<EOF
[tokend]
max-workers = 1
[export a]
socket = /run/a
EOF
bad "handshake-timeout 0" 2 "bad value '0'" <<EOF
[tokend]
handshake-timeout = 0
[export a]
socket = /run/a
EOF
bad "bad size suffix" 2 "bad value '1G'" <<EOF
[tokend]
max-message-size = 1G
[export a]
socket = /run/a
EOF
bad "bad log-level" 2 "bad log-level 'loud'" <<EOF
[tokend]
log-level = loud
[export a]
socket = /run/a
EOF
bad "relative state-dir" 2 "state-dir must be absolute" <<EOF
[tokend]
state-dir = var/lib/tokend
[export a]
socket = /run/a
EOF
bad "line too long" 3 "line longer than" <<EOF
[export a]
socket = /run/a
tokens = pkcs11:model=$(printf 'x%.0s' $(seq 300))
EOF

# No export section at all: "FILE: reason" without a line number.
printf '[tokend]\nlog-level = info\n' >"$C"
rc=0
out=$("$TOKEND" --check-config -c "$C" 2>&1) || rc=$?
refused "a config without exports is refused" "$C: no [export NAME] section" "$out" $rc

finish
