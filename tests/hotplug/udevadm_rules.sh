#!/usr/bin/env bash
# Runs udev/70-tokend.rules through udev's own rule engine, offline:
# `udevadm test` on devices faked by umockdev-run, in a private mount
# namespace where the rules directories hold only our file and /run is a
# tmpfs (udevadm test writes its database there). Needs root (unshare).
#
# usage: udevadm_rules.sh RULES
set -euo pipefail
rules=$(readlink -f "$1")
for tool in unshare udevadm umockdev-run; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (scripts/deps.sh)"; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/rules" "$work/empty"
cp "$rules" "$work/rules/70-tokend.rules"

# One device per block (umockdev-record format). ID_USB_INTERFACES is what
# udevd's usb_id would have set before our rule runs.
cat >"$work/devices.umockdev" <<'DEV'
P: /devices/pci0000:00/usb1/1-1
E: SUBSYSTEM=usb
E: DEVTYPE=usb_device
A: idVendor=1050
A: idProduct=0407

P: /devices/pci0000:00/usb1/1-1/1-1:1.0
E: SUBSYSTEM=usb
E: DEVTYPE=usb_interface
A: bInterfaceClass=0b

P: /devices/pci0000:00/usb1/1-2
E: SUBSYSTEM=usb
E: DEVTYPE=usb_device
E: ID_USB_INTERFACES=:0b0000:
A: idVendor=076b
A: idProduct=5422

P: /devices/pci0000:00/usb1/1-3
E: SUBSYSTEM=usb
E: DEVTYPE=usb_device
A: idVendor=20a0
A: idProduct=42b1

P: /devices/pci0000:00/usb1/1-4
E: SUBSYSTEM=usb
E: DEVTYPE=usb_device
A: idVendor=20a0
A: idProduct=0001

P: /devices/pci0000:00/usb1/1-5
E: SUBSYSTEM=usb
E: DEVTYPE=usb_device
E: ID_USB_INTERFACES=:030102:
A: idVendor=046d
A: idProduct=c077
DEV

# Prints "<port> <action> key" or "<port> <action> -" per device.
probe='
for dev in 1-1 1-1/1-1:1.0 1-2 1-3 1-4 1-5; do
	# remove first: afterwards the database from "add" would carry the
	# property into the remove event (as udevd does).
	for action in remove add; do
		out=$(udevadm test --action=$action /sys/devices/pci0000:00/usb1/$dev 2>&1) || { echo "udevadm test failed: $out"; exit 1; }
		if printf "%s\n" "$out" | grep -q "70-tokend.rules:"; then
			echo "udev complains about the rules:"; printf "%s\n" "$out" | grep "70-tokend.rules:"; exit 1
		fi
		printf "%s\n" "$out" | grep -q "^Reading rules file: .*70-tokend.rules" || { echo "rules not read: $out"; exit 1; }
		if printf "%s\n" "$out" | grep -qx "TOKEND_KEY=1" && printf "%s\n" "$out" | grep -q "^TAGS=.*:tokend:"; then
			echo "$dev $action key"
		else
			echo "$dev $action -"
		fi
	done
done'
got=$(unshare --mount --propagation private -- bash -c '
	set -e
	mount -t tmpfs tmpfs /run
	mount --bind "$1/rules" /usr/lib/udev/rules.d
	[ ! -d /etc/udev/rules.d ] || mount --bind "$1/empty" /etc/udev/rules.d
	umockdev-run -d "$1/devices.umockdev" -- bash -c "$2"' _ "$work" "$probe") ||
	{ echo "FAIL: $got"; exit 1; }

want='1-1 remove -
1-1 add key
1-1/1-1:1.0 remove -
1-1/1-1:1.0 add -
1-2 remove -
1-2 add key
1-3 remove -
1-3 add key
1-4 remove -
1-4 add -
1-5 remove -
1-5 add -'
if [ "$got" != "$want" ]; then
	echo "FAIL: udev applied the rules differently"
	diff <(echo "$want") <(echo "$got") || true
	exit 1
fi
echo "ok: udev tags the YubiKey, the CCID reader and the Nitrokey 3, not the rest"
