package app

import (
	"context"
	"errors"
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
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	want := map[string]int{"status": 0, "items": 0, "track": 1, "untrack": 1, "regarding": 2}[cmd]
	if len(pos) != want {
		fmt.Fprintf(io.Err, "usage: crmsync status | items [-n N] | track KEY [--regarding ENTITY:GUID] | untrack KEY | regarding KEY ENTITY:GUID\n")
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, err := dialAgent(ctx, *data)
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

// parseArgs parses fs's flags wherever they stand among the positional
// arguments ("track KEY --regarding x") and returns the positional ones.
// After "--" everything is positional, so a folder named "-Archive" can be
// given. ok is false when the caller should return code at once.
func parseArgs(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	rest := args
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, ExitOK, false
			}
			return nil, ExitUsage, false
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		// The flag package drops a "--" it stops at; what follows is all
		// positional.
		if used := len(rest) - len(left); used > 0 && rest[used-1] == "--" {
			return append(pos, left...), ExitOK, true
		}
		pos = append(pos, left[0])
		rest = left[1:]
	}
	return pos, ExitOK, true
}

// dialAgent connects to the agent serving the data directory dir, or the
// user's default one when dir is empty.
func dialAgent(ctx context.Context, dir string) (*control.Client, error) {
	if dir == "" {
		d, err := dataDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	return control.Dial(ctx, filepath.Join(dir, "control.sock"))
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

// foldersUsage is printed for a `folders` command line that does not fit.
const foldersUsage = "usage: crmsync folders [add FOLDER ENTITY:GUID | remove FOLDER] [--data DIR]\n"

// runFolders implements `crmsync folders`: list the folder tracking rules,
// or add or remove one, through the running agent. The arguments are
// checked before the agent is asked, so a typo is answered the same way
// whether or not an agent runs.
func runFolders(ctx context.Context, args []string, io Stdio) int {
	fs := newFlagSet("folders", io)
	data := fs.String("data", "", "the agent's data directory (default: the user data directory)")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	sub, name := "", "folders"
	if len(pos) > 0 {
		sub, name = pos[0], "folders "+pos[0]
	}
	want, known := map[string]int{"": 0, "add": 3, "remove": 2}[sub]
	switch {
	case !known:
		fmt.Fprintf(io.Err, "crmsync folders: unknown sub-command %q; use add or remove, or nothing to list the rules\n%s", sub, foldersUsage)
		return ExitUsage
	case len(pos) > want:
		// The likeliest cause is a folder name with spaces left unquoted.
		fmt.Fprintf(io.Err, "crmsync %s: too many arguments; quote a folder name that contains spaces\n%s", name, foldersUsage)
		return ExitUsage
	case len(pos) != want:
		fmt.Fprint(io.Err, foldersUsage)
		return ExitUsage
	}
	var ref agent.RecordRef
	if sub != "" {
		if err := control.ValidateFolder(pos[1]); err != nil {
			fmt.Fprintf(io.Err, "crmsync %s: %v\n", name, err)
			return ExitUsage
		}
	}
	if sub == "add" {
		r, err := control.ParseRecordRef(pos[2])
		if err != nil {
			fmt.Fprintf(io.Err, "crmsync %s: %v\n", name, err)
			return ExitUsage
		}
		ref = r
	}

	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, err := dialAgent(ctx, *data)
	if err != nil {
		fmt.Fprintf(io.Err, "crmsync %s: %v\n", name, err)
		return ExitFailure
	}
	defer c.Close()
	if err := folders1(ctx, c, sub, pos, ref, io); err != nil {
		fmt.Fprintf(io.Err, "crmsync %s: %v\n", name, err)
		return ExitFailure
	}
	return ExitOK
}

// folders1 runs one checked `folders` command line on the agent.
func folders1(ctx context.Context, c *control.Client, sub string, pos []string, ref agent.RecordRef, io Stdio) error {
	switch sub {
	case "add":
		rule, err := c.AddFolderRule(ctx, pos[1], ref)
		if err != nil {
			return err
		}
		// The agent's answer is what the CRM stored; the request fills in
		// whatever an older agent may leave out.
		if rule.Folder == "" {
			rule.Folder = pos[1]
		}
		if rule.Regarding.Entity == "" {
			rule.Regarding = ref
		}
		fmt.Fprintf(io.Out, "mapped folder %q to %s (rule %s); mail that arrives in or is moved into it is tracked regarding that record\n",
			rule.Folder, describeRecord(rule.Regarding), rule.ID)
	case "remove":
		if err := c.RemoveFolderRule(ctx, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "removed the rule for folder %q; mail already tracked through it stays tracked\n", pos[1])
	default:
		rules, err := c.FolderRules(ctx)
		if err != nil {
			return err
		}
		return control.FormatFolderRules(io.Out, rules)
	}
	return nil
}

// describeRecord names a record for a sentence: its type and name, or its
// id when the name is unknown. Quoting keeps text from the CRM from
// driving the terminal.
func describeRecord(r agent.RecordRef) string {
	if r.Name != "" {
		return fmt.Sprintf("%s %q", r.Entity, r.Name)
	}
	return r.Entity + " " + r.ID
}

// syncTimeout bounds `crmsync sync`: a first pass over thousands of
// records takes a while, and the agent goes on with it if the command
// gives up.
const syncTimeout = 10 * time.Minute

// runSync implements `crmsync sync`: a sync pass of the address book and
// calendar now, and what it changed, by record type and direction.
func runSync(ctx context.Context, args []string, io Stdio) int {
	fs := newFlagSet("sync", io)
	data := fs.String("data", "", "the agent's data directory (default: the user data directory)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	c, err := dialAgent(ctx, *data)
	if err != nil {
		fmt.Fprintf(io.Err, "crmsync sync: %v\n", err)
		return ExitFailure
	}
	defer c.Close()
	rep, err := c.Sync(ctx)
	if err != nil {
		fmt.Fprintf(io.Err, "crmsync sync: %v\n", err)
		return ExitFailure
	}
	if err := control.FormatSyncReport(io.Out, rep); err != nil {
		return ExitFailure
	}
	if rep.Err != "" {
		return ExitFailure
	}
	return ExitOK
}

// outboxUsage is printed for an `outbox` command line that does not fit.
const outboxUsage = "usage: crmsync outbox [retry ID] [--data DIR]\n"

// runOutbox implements `crmsync outbox`: the CRM's outgoing email crmsync
// sends (pending, sending, failed, sent in the last week), or `retry ID`
// to send a failed one again.
func runOutbox(ctx context.Context, args []string, io Stdio) int {
	fs := newFlagSet("outbox", io)
	data := fs.String("data", "", "the agent's data directory (default: the user data directory)")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	retry := ""
	switch {
	case len(pos) == 0:
	case len(pos) == 2 && pos[0] == "retry":
		retry = pos[1]
	default:
		fmt.Fprint(io.Err, outboxUsage)
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, err := dialAgent(ctx, *data)
	if err != nil {
		fmt.Fprintf(io.Err, "crmsync outbox: %v\n", err)
		return ExitFailure
	}
	defer c.Close()
	if retry != "" {
		if err := c.RetryEmail(ctx, retry); err != nil {
			fmt.Fprintf(io.Err, "crmsync outbox retry: %v\n", err)
			return ExitFailure
		}
		fmt.Fprintln(io.Out, "The email is pending again; crmsync sends it now.")
		return ExitOK
	}
	rep, err := c.Outbox(ctx)
	if err != nil {
		fmt.Fprintf(io.Err, "crmsync outbox: %v\n", err)
		return ExitFailure
	}
	if err := control.FormatOutbox(io.Out, rep); err != nil {
		return ExitFailure
	}
	return ExitOK
}
