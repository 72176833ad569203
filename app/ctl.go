package app

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"crmsync/agent"
	"crmsync/agent/control"
)

// runControl implements status, items, track, untrack and regarding: each
// asks the running agent over its control socket.
func runControl(ctx context.Context, cmd string, args []string, io Stdio) int {
	fs := newFlagSet(cmd, io)
	data := fs.String("data", "", "the agent's data directory (default: the user data directory)")
	limit := fs.Int("n", 50, "how many items to list (items)")
	regarding := fs.String("regarding", "", "track regarding this record, as ENTITY:GUID (track)")
	// Flags may follow the positional arguments: "track KEY --regarding x".
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if err == flag.ErrHelp {
				return ExitOK
			}
			return ExitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	want := map[string]int{"status": 0, "items": 0, "track": 1, "untrack": 1, "regarding": 2}[cmd]
	if len(pos) != want {
		fmt.Fprintf(io.Err, "usage: crmsync status | items [-n N] | track KEY [--regarding ENTITY:GUID] | untrack KEY | regarding KEY ENTITY:GUID\n")
		return ExitUsage
	}
	dir := *data
	if dir == "" {
		d, err := dataDir()
		if err != nil {
			fmt.Fprintf(io.Err, "crmsync %s: %v\n", cmd, err)
			return ExitFailure
		}
		dir = d
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, err := control.Dial(ctx, filepath.Join(dir, "control.sock"))
	if err != nil {
		fmt.Fprintf(io.Err, "crmsync %s: %v\n", cmd, err)
		return ExitFailure
	}
	defer c.Close()
	if err := control1(ctx, c, cmd, pos, *limit, *regarding, io); err != nil {
		fmt.Fprintf(io.Err, "crmsync %s: %v\n", cmd, err)
		return ExitFailure
	}
	return ExitOK
}

func control1(ctx context.Context, c *control.Client, cmd string, pos []string, limit int, regarding string, io Stdio) error {
	switch cmd {
	case "status":
		s, err := c.Status(ctx)
		if err != nil {
			return err
		}
		return control.FormatStatus(io.Out, s)
	case "items":
		items, err := c.Items(ctx, limit)
		if err != nil {
			return err
		}
		return control.FormatItems(io.Out, items)
	case "track":
		var ref *agent.RecordRef
		if regarding != "" {
			r, err := control.ParseRecordRef(regarding)
			if err != nil {
				return err
			}
			ref = &r
		}
		if err := c.Track(ctx, agent.MessageKey(pos[0]), ref); err != nil {
			return err
		}
		fmt.Fprintln(io.Out, "queued: the message will be tracked as soon as the CRM answers")
	case "untrack":
		res, err := c.Untrack(ctx, agent.MessageKey(pos[0]))
		if err != nil {
			return err
		}
		fmt.Fprintln(io.Out, res.Reason)
	case "regarding":
		r, err := control.ParseRecordRef(pos[1])
		if err != nil {
			return err
		}
		if err := c.SetRegarding(ctx, agent.MessageKey(pos[0]), r); err != nil {
			return err
		}
		fmt.Fprintln(io.Out, "queued: the regarding link will be set as soon as the CRM answers")
	}
	return nil
}
