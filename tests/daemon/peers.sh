#!/usr/bin/env bash
# Export sockets: created with the configured mode/owner/group (parent
# directories made, a stale socket replaced); who may connect (uids,
# primary and supplementary groups, user namespaces by their mapped ids).
. "$(dirname "$0")/lib.sh"

S="$T/run/sub" # made by tokend
mkdir -p "$T/run"
chmod 0755 "$T/run"
# A stale socket file left by a crashed instance.
$PY -c "import socket; socket.socket(socket.AF_UNIX).bind('$T/run/stale')"

cat >"$T/tokend.conf" <<EOF
[export perms]
socket = $S/perms
owner = nobody
group = nogroup
mode = 0640

[export users]
socket = $S/users
mode = 0666
allow-users = 1234

[export groups]
socket = $S/groups
mode = 0666
allow-groups = 4321

[export anyone]
socket = $S/anyone
mode = 0666

[export nsroot]
socket = $S/nsroot
mode = 0666
allow-users = root

[export stale]
socket = $T/run/stale
mode = 0666
EOF

start_tokend "$T/tokend.conf"

check "socket mode/owner/group as configured" \
	test "$(stat -c '%A %U %G' "$S/perms")" = "srw-r----- nobody nogroup"
check "default mode 0660 is replaced by the configured 0666" \
	test "$(stat -c '%a' "$S/users")" = "666"
check "missing parent directory made with 0755" \
	test "$(stat -c '%a' "$S")" = "755"
check "a stale socket file is replaced" \
	test "$($CLIENT eof "$T/run/stale" 0.5)" = "open"

as() { # as UID GID [setpriv group options] -- command
	local uid=$1 gid=$2
	shift 2
	setpriv --reuid "$uid" --regid "$gid" "$@"
}

# Allowed uid: stays connected (tokend waits for its handshake byte).
check "allowed uid 1234 is served" \
	test "$(as 1234 1234 --clear-groups $CLIENT eof "$S/users" 0.5)" = "open"
# Not allowed: closed at once, and the log names it.
check "uid 1235 not in allow-users is disconnected at once" \
	test "$(as 1235 1235 --clear-groups $CLIENT eof "$S/users" 1)" = "eof"
check "the refusal is logged with export, uid, gid" \
	log_has "export users: refused peer uid 1235 gid 1235 pid [0-9]+"

# Groups: primary gid, supplementary group, neither.
check "primary gid 4321 is allowed" \
	test "$(as 1240 4321 --clear-groups $CLIENT eof "$S/groups" 0.5)" = "open"
check "supplementary group 4321 is allowed" \
	test "$(as 1241 1241 --groups 100,4321 $CLIENT eof "$S/groups" 0.5)" = "open"
check "no matching group is refused" \
	test "$(as 1242 1242 --groups 100,4322 $CLIENT eof "$S/groups" 1)" = "eof"
check "the group refusal is logged" \
	log_has "export groups: refused peer uid 1242 gid 1242"

# No allow lists: anyone who reaches the socket.
check "an export without allow lists takes any uid" \
	test "$(as 1250 1250 --clear-groups $CLIENT eof "$S/anyone" 0.5)" = "open"

# A rootless container: root inside, uid 1234 outside.
userns() {
	as 1234 1234 --clear-groups unshare --user --map-root-user "$@"
}
check "the user namespace really maps to root inside" \
	test "$(userns id -u)" = "0"
check "namespace root (uid 1234 outside) is allowed where 1234 is" \
	test "$(userns $CLIENT eof "$S/users" 0.5)" = "open"
check "tokend logs the namespace client as uid 1234, not 0" \
	log_has "export users: connection [0-9]+ from uid 1234 gid 1234"
check "namespace root is refused where only root is allowed" \
	test "$(userns $CLIENT eof "$S/nsroot" 1)" = "eof"
check "the refusal names the outside uid 1234" \
	log_has "export nsroot: refused peer uid 1234 gid 1234"
check "real root is allowed there" \
	test "$($CLIENT eof "$S/nsroot" 0.5)" = "open"

stop_tokend
check "sockets are removed at exit" test ! -e "$S/perms" -a ! -e "$S/users"
finish
