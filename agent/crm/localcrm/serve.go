package localcrm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"crmsync/agent/internal/transport"
)

// ServeOptions configures Serve, the `crmsync localcrm serve` command.
type ServeOptions struct {
	// Listen is host:port to listen on, e.g. 127.0.0.1:8555; port 0 picks
	// a free port (Ready reports it). Only loopback hosts are allowed
	// unless AllowRemote is set with TLS.
	Listen string
	// DataDir holds the store; empty keeps it in memory.
	DataDir string
	// Seed is "" (no seed data) or "demo" (SeedDemo, loopback only).
	Seed string
	// AllowRemote permits a non-loopback listen address; it also needs
	// TLSCert and TLSKey, since passwords and tokens cross the network.
	AllowRemote bool
	// TLSCert and TLSKey are PEM files; when both are set the server
	// speaks HTTPS, on loopback as well as remotely (MSAL and other
	// Entra ID clients accept only https authorities).
	TLSCert, TLSKey string
	// Auth is the identity provider to stand for, the --auth flag:
	// "entra" (default) or "adfs"; see Options.Auth. Empty keeps
	// Server.Auth.
	Auth string
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Ready, if set, is called once the server accepts connections, with
	// its origin (e.g. http://127.0.0.1:40123); the Web API is under
	// /api/data/v9.2/ and the token endpoint at /oauth2/v2.0/token.
	Ready func(url string)
	// Server holds further server options (limits, token lifetimes);
	// its DataDir and Logger are taken from the fields above.
	Server Options
}

// checkListen enforces the transport rule for the local CRM.
func checkListen(o ServeOptions) error {
	host, _, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return fmt.Errorf("localcrm: the listen address %q is not host:port (for example 127.0.0.1:8555): %w", o.Listen, err)
	}
	switch o.Seed {
	case "", "demo":
	default:
		return fmt.Errorf("localcrm: unknown seed %q; the allowed values are \"\" (none) and \"demo\"", o.Seed)
	}
	switch o.Auth {
	case "", AuthEntra, AuthADFS:
	default:
		return fmt.Errorf("localcrm: unknown auth flavour %q; the allowed values are %q and %q", o.Auth, AuthEntra, AuthADFS)
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("localcrm: give both a TLS certificate and a TLS key, or neither")
	}
	if transport.IsLoopback(host) { // an empty host is every interface: not loopback
		return nil
	}
	shown := host
	if shown == "" {
		shown = "every network interface"
	}
	if !o.AllowRemote || o.TLSCert == "" {
		return fmt.Errorf("localcrm: refusing to listen on %s (%s): it is not a loopback address, and other computers could reach the CRM's sign-in; listen on 127.0.0.1:PORT, or allow remote access explicitly together with a TLS certificate and key", o.Listen, shown)
	}
	if o.Seed == "demo" {
		return errors.New("localcrm: the demo seed has published passwords, so it is served on loopback addresses only; drop the demo seed or listen on 127.0.0.1:PORT")
	}
	return nil
}

// Serve runs the local CRM until ctx is done, then shuts down gracefully.
func Serve(ctx context.Context, o ServeOptions) error {
	if err := checkListen(o); err != nil {
		return err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := o.Server
	opts.DataDir, opts.Logger = o.DataDir, log
	if o.Auth != "" {
		opts.Auth = o.Auth
	}
	srv, err := New(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	if o.Seed == "demo" {
		if err := srv.SeedDemo(); err != nil {
			return err
		}
	}
	scheme := "http"
	var tlsConf *tls.Config
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return fmt.Errorf("localcrm: load TLS certificate: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("localcrm: listen on %s: %w", o.Listen, err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	url := scheme + "://" + ln.Addr().String()
	log.Info("localcrm: serving", "url", url, "persistent", o.DataDir != "", "seed", o.Seed, "auth", srv.opts.Auth)
	if o.Ready != nil {
		o.Ready(url)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("localcrm: serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("localcrm: shut down: %w", err)
	}
	return nil
}
