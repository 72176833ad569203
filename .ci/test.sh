#!/usr/bin/env bash
# Runs go vet, every test and a short pass of each fuzz target, inside a
# private D-Bus session with an unlocked gnome-keyring (the real Secret
# Service) and a throwaway HOME, so tests never touch the user's keychain.
#
#   test.sh          make test: vet, staticcheck, all tests under the race
#                    detector (chaos short forms), fuzz 10 s each
#   test.sh chaos    make chaos: the chaos scenarios' long forms, fuzz 60 s each,
#                    one "chaos NAME ok|FAIL DETAIL" line per scenario
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}

export CGO_ENABLED=1
# Keep the real build caches before HOME moves, or every run is cold.
GOCACHE=$(go env GOCACHE)
GOMODCACHE=$(go env GOMODCACHE)
export GOCACHE GOMODCACHE
# Where make test-deps installed the linter, found before HOME moves too.
staticcheck="$(go env GOPATH)/bin/staticcheck"

tmphome=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$tmphome" "$log"' EXIT
export HOME=$tmphome XDG_CONFIG_HOME=$tmphome/.config XDG_DATA_HOME=$tmphome/.local/share \
  XDG_CACHE_HOME=$tmphome/.cache XDG_RUNTIME_DIR=$tmphome/run LANG=en_US.UTF-8
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

# in_session runs its arguments on a private bus with an unlocked keyring.
in_session() {
  dbus-run-session -- sh -c 'echo -n test-keyring | gnome-keyring-daemon --unlock --components=secrets >/dev/null; "$@"' sh "$@"
}

if [ "$mode" = chaos ]; then
  FUZZTIME=${FUZZTIME:-60s}
  echo "== chaos scenarios (long forms)"
  status=0
  CRMSYNC_CHAOS=long in_session go test -count=1 -timeout 20m -run '^TestChaos' -v ./app >"$log" 2>&1 || status=1
  grep '^chaos ' "$log" || { cat "$log"; exit 1; }
  [ $status -eq 0 ] || { grep -E -- '--- FAIL|_test.go:' "$log" || true; }
else
  FUZZTIME=${FUZZTIME:-10s}
  echo "== go vet"
  go vet ./...
  echo "== staticcheck"
  "$staticcheck" ./...
  echo "== go test -race"
  # The address book and calendar tests run against the real Radicale, and
  # the outgoing mail tests against the real Postfix, that test-deps
  # installed: here a missing one is a failure, not a skip.
  export CRMSYNC_REQUIRE_DAV=1 CRMSYNC_REQUIRE_SMTP=1
  # The whole suite runs under the race detector: every goroutine the
  # agent starts is exercised by some test, and a race is a bug.
  in_session go test -race -count=1 -timeout 20m ./...
  status=0
fi

echo "== fuzz (each target ${FUZZTIME})"
# Every FuzzXxx in the tree runs; its seed corpus already ran with the tests.
for f in $(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' .); do
  pkg=./$(dirname "${f#./}")
  for name in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$f" | sed 's/^func //'); do
    if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
      [ "$mode" = chaos ] && echo "chaos fuzz-$name ok $(grep -oE 'execs: [0-9]+' "$log" | tail -n 1)" || tail -n 1 "$log"
    else
      cat "$log"
      [ "$mode" = chaos ] && echo "chaos fuzz-$name FAIL see the crasher above"
      exit 1
    fi
  done
done
exit $status
