#!/usr/bin/env bash
# Installs every Debian 12 package tokend needs to build, test and demo.
# Idempotent: apt-get skips what is already there.
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake pkg-config clang llvm libclang-rt-14-dev
  libssl-dev zlib1g-dev libpcsclite-dev libcmocka-dev
  libp11-kit-dev libinih-dev libsystemd-dev libudev-dev
  meson ninja-build libffi-dev # the newer p11-kit clients (p11kit-clients.sh)
  scdoc # the man pages (doc/)
  libtss2-dev # the TPM driver (drivers/tpm): ESYS and the TCTI loader
)
TEST_PKGS=(
  pcscd vsmartcard-vpcd pcsc-tools
  opensc yubico-piv-tool
  p11-kit p11-kit-modules gnutls-bin libengine-pkcs11-openssl openssl openssh-client
  python3 python3-pykcs11 python3-cryptography python3-pyscard
  procps util-linux iproute2 systemd
  umockdev libumockdev-dev udev # the udev watcher's and rules' tests (tests/hotplug)
  softhsm2 libsofthsm2 # the module bridge's tests (tests/bridge); Debian has no -dev package
  man-db # the man pages' checks (ctest man_pages, tests/package)
  swtpm swtpm-tools tpm2-tools # the TPM driver's tests (a software TPM per test)
  tpm2-abrmd libtss2-tcti-tabrmd0 libtpm2-pkcs11-1 libtpm2-pkcs11-tools dbus # bench/: tpm2-pkcs11 as the anchor
  golang-go golang-github-thalesignite-crypto11-dev # Go crypto11 as a client (tests/bridge)
  openssh-server # SSH logins with a token's key, and SSH socket forwarding
)

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: must run as root (use sudo)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Refresh the lists only when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  apt-get update -q
fi
apt-get install -y -q --no-install-recommends "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
