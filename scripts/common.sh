# Sourced by the top-level scripts: become root, install, build.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Re-run the calling script as root; apt-get and pcscd need it.
as_root() {
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			exec sudo -E bash "$0" "$@"
		fi
		echo "$(basename "$0"): run as root (sudo is not installed)" >&2
		exit 1
	fi
}

# build DIR [cmake options...]
build() {
	local dir=$1
	shift
	cmake -S "$TOP" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
	cmake --build "$dir" -j "$(nproc)"
}
