# crmsync: "make run" to try it, "make test" to test it. Both install the
# system packages they need (only the missing ones) on Debian or Ubuntu.
SHELL := /bin/bash
export CGO_ENABLED := 1

.PHONY: run test build deps test-deps vet package bench chaos
.DEFAULT_GOAL := run

deps:
	@bash .ci/deps.sh build

test-deps:
	@bash .ci/deps.sh test

build: deps
	go build -o crmsync .

run: build
	./crmsync --demo

test: test-deps
	@bash .ci/test.sh

vet:
	go vet ./...

# Faults survived, bad input refused: the long forms of the chaos
# scenarios and a minute of fuzzing per target (under 10 minutes).
chaos: test-deps
	@bash .ci/test.sh chaos

# An installable Linux archive (crmsync.tar.xz) with the binary, icon and
# .desktop file; install it with: tar xf crmsync.tar.xz && sudo make -C crmsync install
package: deps
	go run fyne.io/tools/cmd/fyne@v1.7.4 package --os linux --release
	git checkout -- FyneApp.toml 2>/dev/null || true

# Speed, memory and wire-size figures against their floors, one
# "metric NAME VALUE UNIT" line each; also written to bench/results.txt.
bench: test-deps
	go run ./bench/run
