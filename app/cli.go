// Package app is the composition root: it parses the command line, wires
// the engine, the local CRM and the user interface together, and owns the
// process lifecycle. Nothing imports app.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes of the crmsync command.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and failed
	ExitUsage   = 2 // bad command line, or a command this build cannot do yet
)

// Stdio is the process's standard streams, passed in so tests can run
// commands in-process.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

const usage = `crmsync tracks your email into a Dynamics 365 (Dataverse) CRM and keeps your CRM
contacts, appointments and tasks in step with your address book and calendar.

Usage:
  crmsync                         start the tray app (first start shows sign-in)
  crmsync --demo                  start with a built-in local CRM and demo data
  crmsync localcrm serve --listen 127.0.0.1:8555 --data DIR [--seed demo] [--auth entra|adfs]
      [--app all|sales|service|none] [--limit-requests N --limit-window DURATION]
                                  run the local CRM server
  crmsync agent --crm URL (--maildir DIR | --imap imaps://USER@HOST:PORT) [--dav https://USER@HOST/PATH/]
      [--smtp smtps://USER@HOST:PORT] [--data DIR] [--device-code | --browser | --user EMAIL --password-stdin]
                                  run the tracking engine without a window; with no
                                  sign-in option it uses the sign-in saved in the keychain;
                                  --dav keeps CRM contacts, appointments and tasks in step
                                  with that address book and calendar server; --smtp sends
                                  the email the CRM asks crmsync to send through that server
  crmsync status | items | track KEY [--regarding ENTITY:GUID] | untrack KEY | regarding KEY ENTITY:GUID
  crmsync folders [add FOLDER ENTITY:GUID | remove FOLDER]
                                  talk to the running agent; folders maps mail folders
                                  to CRM records (ENTITY is contact, account, opportunity or case)
  crmsync sync [--data DIR]       sync the address book and calendar now, and print
                                  what changed, by record type and direction
  crmsync outbox [retry ID] [--data DIR]
                                  the CRM's email crmsync sends: pending, sending, failed,
                                  sent this week; retry sends a failed one again
  crmsync signout [--data DIR]    forget the saved sign-in

Options of the tray app: --data DIR (where its data lives), -v (verbose).
Run "crmsync COMMAND -h" for a command's options.
`

// Main runs the crmsync command line and returns the process exit code.
func Main(ctx context.Context, args []string, io Stdio) int {
	if len(args) == 0 || isGUIFlag(args[0]) {
		return runGUI(ctx, false, args, io)
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(io.Out, usage)
		return ExitOK
	case "--demo", "-demo":
		return runGUI(ctx, true, args[1:], io)
	case "localcrm":
		return runLocalCRM(ctx, args[1:], io)
	case "agent":
		return runAgent(ctx, args[1:], io)
	case "status", "items", "track", "untrack", "regarding":
		return runControl(ctx, args[0], args[1:], io)
	case "folders":
		return runFolders(ctx, args[1:], io)
	case "sync":
		return runSync(ctx, args[1:], io)
	case "outbox":
		return runOutbox(ctx, args[1:], io)
	case "signout":
		return runSignOut(ctx, args[1:], io)
	}
	if strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(io.Err, "crmsync: unknown option %s\n\n%s", args[0], usage)
	} else {
		fmt.Fprintf(io.Err, "crmsync: unknown command %q\n\n%s", args[0], usage)
	}
	return ExitUsage
}

// isGUIFlag reports whether arg is an option of the tray app itself.
func isGUIFlag(arg string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return strings.HasPrefix(arg, "-") && (name == "data" || name == "v")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, io Stdio) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Err)
	return fs
}

// parseFlags parses args and maps the outcome to an exit code; ok is false
// when the caller should return code at once.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return ExitOK, false
	case err != nil:
		return ExitUsage, false
	case fs.NArg() > 0:
		fmt.Fprintf(fs.Output(), "crmsync %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return ExitUsage, false
	}
	return ExitOK, true
}
