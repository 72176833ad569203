// Command crmsync is a tray-resident desktop agent that tracks email into a
// Dynamics 365 (Dataverse) CRM, sending only what a tracking decision needs
// and keeping nothing but IDs on the device.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"crmsync/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], app.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
