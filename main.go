// Command crmsync is a tray-resident desktop agent that tracks email into a
// Dynamics 365 (Dataverse) CRM, sending only what a tracking decision needs
// and keeping nothing but IDs on the device.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"crmsync/app"
	// Initialised before Fyne's lang package, whose init would otherwise
	// print a locale error under LANG=C.UTF-8; see the package doc.
	_ "crmsync/app/locale"
)

func init() {
	// The agent runs for weeks; the runtime's sampling of allocations for
	// heap profiles would keep a megabyte and a half of call stacks
	// resident for a profile nobody takes. GODEBUG=memprofilerate=N still
	// turns it on for whoever does.
	if !strings.Contains(os.Getenv("GODEBUG"), "memprofilerate=") {
		runtime.MemProfileRate = 0
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], app.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
