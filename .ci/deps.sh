#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages crmsync needs, only those missing, so a
# warm machine pays nothing. Usage: deps.sh build|test
set -euo pipefail

build_pkgs=(gcc libc6-dev pkg-config libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev
  libxinerama-dev libxi-dev libxxf86vm-dev)
# dbus + gnome-keyring give the tests a real Secret Service; xvfb, xauth and
# imagemagick give them a real window and a screenshot; chromium is the real
# browser that completes the browser sign-in. dbus-x11 is left out on
# purpose: with it, the keychain library spawns stray session buses.
# dovecot-imapd is the real IMAP server the IMAP tests start privately on a
# loopback port. radicale (with apache2-utils for htpasswd) is the real
# CardDAV/CalDAV server the address book and calendar tests start the same way;
# postfix is the real SMTP server the outgoing mail tests start privately.
test_pkgs=(dbus gnome-keyring xvfb xauth imagemagick chromium dovecot-imapd radicale apache2-utils postfix)

want=("${build_pkgs[@]}")
case "${1:-build}" in
build) ;;
test) want+=("${test_pkgs[@]}") ;;
*) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "installing missing system packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null; then
  echo "Go is not installed: install Go 1.26 or newer (https://go.dev/doc/install), then run make again" >&2
  exit 1
fi

# staticcheck, the linter make test runs, pinned; installed only when this
# version is missing.
if [ "${1:-build}" = test ]; then
  sc="$(go env GOPATH)/bin/staticcheck"
  want_sc="(0.8.2)"
  if ! "$sc" -version 2>/dev/null | grep -qF "$want_sc"; then
    echo "installing staticcheck ($want_sc)"
    go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
  fi
fi
