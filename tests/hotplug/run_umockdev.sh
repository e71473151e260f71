#!/bin/sh
# Runs a test under umockdev-wrapper (LD_PRELOAD of its /sys and netlink
# fakes). ASan insists on being first in the library list; the preload
# comes first here, which is harmless for this test.
set -eu
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
exec umockdev-wrapper "$@"
