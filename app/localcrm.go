package app

import (
	"context"
	"errors"
	"fmt"
	"os"

	"crmsync/agent/crm/localcrm"
)

// runLocalCRM implements "crmsync localcrm serve".
func runLocalCRM(ctx context.Context, args []string, io Stdio) int {
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprintln(io.Err, "usage: crmsync localcrm serve --listen 127.0.0.1:8555 --data DIR [--seed demo] [--auth entra|adfs]")
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
	verbose := fs.Bool("v", false, "log every request")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if *data == "" {
		fmt.Fprintln(io.Err, "crmsync localcrm serve: --data DIR is required: the directory where the CRM keeps its database")
		return ExitUsage
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		fmt.Fprintf(io.Err, "crmsync localcrm serve: cannot create the data directory: %v\n", err)
		return ExitFailure
	}
	err := localcrm.Serve(ctx, localcrm.ServeOptions{
		Listen: *listen, DataDir: *data, Seed: *seed,
		AllowRemote: *remote, TLSCert: *cert, TLSKey: *key, Auth: *auth,
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
