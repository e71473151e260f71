#!/usr/bin/env bash
# Socket owner and mode are applied to the socket tokend bound, never
# through a symlink: whoever can write the socket's directory swaps the
# socket (or the directory) for a symlink to a victim file between start
# and a reload that changes owner and mode; the victim keeps its owner and
# mode, and the reload says why. No card needed.
. "$(dirname "$0")/lib.sh"

S="$T/s"
CONF="$T/tokend.conf"
write_conf() { # write_conf MODE OWNER
	printf '[export swap]\nsocket = %s/sock\nmode = %s\nowner = %s\n' \
		"$S" "$1" "$2" >"$CONF"
}
hup_and_wait() {
	local n
	n=$(grep -Ec -- "$1" "$LOG" || true)
	kill -HUP "$TOKEND_PID"
	wait_for sh -c "[ \$(grep -Ec -- '$1' '$LOG') -gt $n ]"
}

mkdir -p "$S"
write_conf 0660 0
start_tokend "$CONF"
check "socket made with its mode" test "$(stat -c %a "$S/sock")" = 660
write_conf 0666 0
kill -HUP "$TOKEND_PID"
check "a reload applies a new mode to the real socket" \
	wait_for sh -c "test \$(stat -c %a '$S/sock') = 666"

# The socket itself replaced by a symlink to the victim.
echo secret >"$T/victim"
chmod 0600 "$T/victim"
mv "$S/sock" "$T/real-sock"
ln -s "$T/victim" "$S/sock"
write_conf 0666 1234
check "reload with the socket swapped for a symlink is logged" \
	hup_and_wait "swap: could not apply owner/mode"
check "the victim's mode is unchanged" test "$(stat -c %a "$T/victim")" = 600
check "the victim's owner is unchanged" test "$(stat -c %u "$T/victim")" = 0

# The directory replaced by a symlink to a directory holding a victim of
# the socket's name.
rm "$S/sock"
mv "$S" "$T/s-real"
mkdir "$T/elsewhere"
echo secret >"$T/elsewhere/sock"
chmod 0600 "$T/elsewhere/sock"
ln -s "$T/elsewhere" "$S"
write_conf 0644 1235
check "reload with the directory swapped is logged" \
	hup_and_wait "swap: could not apply owner/mode"
check "that victim's mode is unchanged" test "$(stat -c %a "$T/elsewhere/sock")" = 600
check "that victim's owner is unchanged" test "$(stat -c %u "$T/elsewhere/sock")" = 0
check "the reason is logged" log_has "is no longer the socket tokend bound"
check "the bound socket still serves" test "$($CLIENT eof "$T/real-sock" 0.5)" = "open"
stop_tokend
check "the victim was not unlinked at exit" test -e "$T/elsewhere/sock"
finish
