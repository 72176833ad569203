#!/usr/bin/env bash
# Runs go vet, every test and a short pass of each fuzz target, inside a
# private D-Bus session with an unlocked gnome-keyring (the real Secret
# Service) and a throwaway HOME, so tests never touch the user's keychain.
set -euo pipefail
cd "$(dirname "$0")/.."

export CGO_ENABLED=1
# Keep the real build caches before HOME moves, or every run is cold.
GOCACHE=$(go env GOCACHE)
GOMODCACHE=$(go env GOMODCACHE)
export GOCACHE GOMODCACHE
FUZZTIME=${FUZZTIME:-10s}

echo "== go vet"
go vet ./...

tmphome=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$tmphome" "$log"' EXIT
export HOME=$tmphome XDG_CONFIG_HOME=$tmphome/.config XDG_DATA_HOME=$tmphome/.local/share \
  XDG_CACHE_HOME=$tmphome/.cache XDG_RUNTIME_DIR=$tmphome/run LANG=en_US.UTF-8
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

echo "== go test"
dbus-run-session -- sh -c '
  echo -n test-keyring | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  go test -count=1 -timeout 15m ./...
'

echo "== fuzz (each target ${FUZZTIME})"
# Every FuzzXxx in the tree runs briefly; its seed corpus already ran above.
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' . | while read -r f; do
  pkg=./$(dirname "${f#./}")
  for name in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$f" | sed 's/^func //'); do
    echo "-- $pkg $name"
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1 || { cat "$log"; exit 1; }
    tail -n 1 "$log"
  done
done

