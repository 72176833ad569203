package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"crmsync/agent/crm/localcrm"
)

// runLocalCRM implements "crmsync localcrm serve".
func runLocalCRM(ctx context.Context, args []string, io Stdio) int {
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprintln(io.Err, "usage: crmsync localcrm serve --listen 127.0.0.1:8555 --data DIR [--seed demo] [--auth entra|adfs] [--app all|sales|service|none] [--limit-requests N --limit-window DURATION]")
		return ExitUsage
	}
	fs := newFlagSet("localcrm serve", io)
	listen := fs.String("listen", "127.0.0.1:8555", "address to listen on; loopback unless --allow-remote")
	data := fs.String("data", "", "directory for the CRM's database (required; created if missing)")
	seed := fs.String("seed", "", `load sample data: "demo" for the demo users and records`)
	remote := fs.Bool("allow-remote", false, "allow a non-loopback --listen address (needs --tls-cert and --tls-key)")
	cert := fs.String("tls-cert", "", "TLS certificate file (PEM) for serving https")
	key := fs.String("tls-key", "", "TLS private key file (PEM) for serving https")
	auth := fs.String("auth", localcrm.AuthEntra, `how users sign in: "entra" (Microsoft Entra ID) or "adfs" (AD FS)`)
	app := fs.String("app", localcrm.AppAll, `which Dynamics 365 apps the environment has, and so its optional tables: "all", "sales" (opportunities, leads), "service" (cases) or "none"`)
	limitReq := fs.Int("limit-requests", localcrm.DefaultRateLimit, "service protection: Web API requests one user may send per --limit-window")
	limitWin := fs.Duration("limit-window", localcrm.DefaultRateWindow, "service protection: the sliding window of --limit-requests and of the execution-time limit")
	verbose := fs.Bool("v", false, "log every request")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if *data == "" {
		fmt.Fprintln(io.Err, "crmsync localcrm serve: --data DIR is required: the directory where the CRM keeps its database")
		return ExitUsage
	}
	if *limitReq < 1 || *limitWin < time.Second {
		fmt.Fprintln(io.Err, "crmsync localcrm serve: --limit-requests must be at least 1 and --limit-window at least 1s (for example --limit-requests 600 --limit-window 30s)")
		return ExitUsage
	}
	switch *app {
	case localcrm.AppAll, localcrm.AppSales, localcrm.AppService, localcrm.AppNone:
	default:
		fmt.Fprintf(io.Err, "crmsync localcrm serve: --app must be all, sales, service or none, not %q\n", *app)
		return ExitUsage
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		fmt.Fprintf(io.Err, "crmsync localcrm serve: cannot create the data directory: %v\n", err)
		return ExitFailure
	}
	err := localcrm.Serve(ctx, localcrm.ServeOptions{
		Listen: *listen, DataDir: *data, Seed: *seed,
		AllowRemote: *remote, TLSCert: *cert, TLSKey: *key, Auth: *auth,
		Server: localcrm.Options{RateLimit: *limitReq, RateWindow: *limitWin, App: *app},
		Logger: newLogger(io.Err, *verbose),
		Ready: func(url string) {
			fmt.Fprintf(io.Out, "local CRM listening on %s (Web API at %s/api/data/v9.2/)\n", url, url)
		},
	})
	return exitFor(io, "localcrm serve", err)
}

// exitFor reports err and maps it to an exit code; a cancelled context is
// a normal stop.
func exitFor(io Stdio, cmd string, err error) int {
	if err == nil || errors.Is(err, context.Canceled) {
		return ExitOK
	}
	fmt.Fprintf(io.Err, "crmsync %s: %v\n", cmd, err)
	return ExitFailure
}
