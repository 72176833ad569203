package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"github.com/godbus/dbus/v5"

	"crmsync/agent"
	"crmsync/agent/control"
	"crmsync/agent/crm"
	"crmsync/agent/engine"
	"crmsync/ui"
)

// runGUI runs the tray app. With demo it first starts the local CRM with
// the demo seed and a demo Maildir, and signs in as alice.
func runGUI(ctx context.Context, demo bool, args []string, io Stdio) int {
	name := "crmsync"
	if demo {
		name = "--demo"
	}
	fs := newFlagSet(name, io)
	data := fs.String("data", "", "directory for the agent's data (default: the user data directory)")
	verbose := fs.Bool("v", false, "verbose logging")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	err := gui(ctx, demo, *data, newLogger(io.Err, *verbose), io)
	if errors.Is(err, errRestart) {
		// Everything gui opened is closed by now, the data directory's
		// lock included, so the new process can take it.
		err = restartProcess() // returns only if the restart failed
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(io.Err, "crmsync: %s\n", agentErrorText(err))
		return ExitFailure
	}
	return ExitOK
}

func gui(ctx context.Context, demo bool, data string, log *slog.Logger, io Stdio) error {
	if err := checkDisplay(); err != nil {
		return err
	}
	if data == "" {
		d, err := dataDir()
		if err != nil {
			return err
		}
		data = d
		if demo {
			data = filepath.Join(d, "demo")
		}
	}
	ln, err := lockDataDir(data)
	if err != nil {
		return err
	}
	defer ln.Close()

	cfgPath := filepath.Join(data, "settings.json")
	if !demo {
		if dir, err := os.UserConfigDir(); err == nil {
			cfgPath = filepath.Join(dir, AppID, "settings.json")
		}
	}
	cfg := NewConfig(cfgPath)
	var demoCreds *agent.Credentials
	if demo {
		d, err := startDemoCRM(filepath.Join(data, "crm"))
		if err != nil {
			return err
		}
		defer d.close()
		mdir := filepath.Join(data, "Maildir")
		if err := writeDemoMaildir(mdir, time.Now()); err != nil {
			return err
		}
		s, err := cfg.Load()
		if err != nil {
			return err
		}
		s.CRMURL, s.MaildirPath, s.Folders = d.url, mdir, []string{".Sent"}
		if len(s.ExcludedAddresses) == 0 && len(s.InternalDomains) == 0 {
			s.ExcludedAddresses, s.InternalDomains = demoExcluded, demoInternal
		}
		if err := cfg.Save(s); err != nil {
			return err
		}
		demoCreds = &agent.Credentials{CRMURL: d.url, Username: "alice@demo.local", Secret: "demo-alice", NoSave: true}
		fmt.Fprintf(io.Out, "crmsync demo: local CRM at %s, mail folder %s\n", d.url, mdir)
	}
	crmURL, user := cfg.Account()
	if demoCreds != nil {
		crmURL, user = demoCreds.CRMURL, demoCreds.Username
	}
	// The demo's sign-in is handed to the engine as if it were saved, so
	// it starts Connecting rather than asking for a sign-in; it is kept in
	// memory only, never in the keychain.
	var secrets agent.Secrets
	if demoCreds != nil {
		secrets = &memorySecrets{c: *demoCreds}
	}
	eng, store, _, err := buildEngineWith(data, crmURL, user, cfg, crm.Config{}, engine.SignInOptions{}, secrets, nil, log)
	if err != nil {
		return err
	}
	// The cache is closed only once the engine has stopped; see serveAgent.
	engineStopped := false
	defer func() {
		if engineStopped {
			store.Close()
		}
	}()

	fa := fyneapp.NewWithID(AppID)
	tray, why := trayAvailable()
	if !tray {
		fmt.Fprintf(io.Err, "crmsync: %s; showing a window instead of a tray icon\n", why)
	}
	auto, _ := newAutostart()
	var autostart ui.Autostart
	if auto != nil {
		autostart = auto
	}
	u := ui.New(fa, eng, ui.Options{Tray: tray, Autostart: autostart, DefaultCRM: crmURL})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var restart atomic.Bool // set on the Fyne goroutine, read after fa.Run
	restartApp := func() {
		restart.Store(true)
		fa.Quit()
	}
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(ctx) }()
	// The engine may fail while the app runs (its cache broke, a part of
	// it gave up): the tray must not stay up with a menu whose every
	// action waits for a loop that is gone. engResult is what shutdown
	// waits for; the watcher passes the engine's end on to it.
	engResult := make(chan error, 1)
	go watchEngine(ctx, engDone, engResult, func(err error) {
		log.Error("the engine stopped while the app runs", "err", err)
		fyne.Do(func() { u.EngineStopped(errors.New(agentErrorText(err)), restartApp) })
	})
	srv := control.NewServer(ln, eng, log)
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Run(ctx) }()
	go func() {
		<-ctx.Done()
		fyne.Do(fa.Quit)
	}()
	u.Start(ctx)
	if demo {
		u.ShowItems()
	}
	fa.Run()
	cancel()
	<-srvDone
	err = waitEngine(engResult, engineStopTimeout)
	engineStopped = !errors.Is(err, errEngineStuck)
	if !engineStopped {
		log.Error("shutdown: the engine did not stop in time; exiting without it", "timeout", engineStopTimeout)
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if restart.Load() {
		if err != nil {
			log.Error("restarting after the engine stopped", "err", err)
		}
		return errRestart
	}
	return err
}

// watchEngine passes the engine's end from done on to result, and calls
// stopped with the reason if the engine ended while ctx was live: that is
// a failure, whatever Run returned, since only ctx's end asks it to stop.
func watchEngine(ctx context.Context, done <-chan error, result chan<- error, stopped func(error)) {
	err := <-done
	result <- err
	if ctx.Err() != nil {
		return // a normal shutdown: the app is quitting anyway
	}
	if err == nil {
		err = errors.New("the tracking engine ended on its own")
	}
	stopped(err)
}

// trayAvailable reports whether a tray host can show the icon: it needs a
// session bus (without one, the tray library fails on quit) and a
// StatusNotifierWatcher on it.
func trayAvailable() (bool, string) {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		return false, "no desktop session bus"
	}
	conn, err := dbus.SessionBusPrivateNoAutoStartup()
	if err != nil {
		return false, "the desktop session bus cannot be reached"
	}
	defer conn.Close()
	if err := conn.Auth(nil); err != nil {
		return false, "the desktop session bus refused us"
	}
	if err := conn.Hello(); err != nil {
		return false, "the desktop session bus refused us"
	}
	var owned bool
	err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.kde.StatusNotifierWatcher").Store(&owned)
	if err != nil || !owned {
		return false, "no system tray host is running"
	}
	return true, ""
}

// errNoDisplay says why the tray app cannot start without a display; the
// window toolkit would otherwise panic.
var errNoDisplay = errors.New("no graphical display: neither DISPLAY nor WAYLAND_DISPLAY is set. " +
	"Start crmsync from your desktop session, or run the engine without a window: crmsync agent --help")

// checkDisplay refuses to start the GUI where no display can be opened.
func checkDisplay() error {
	if runtime.GOOS != "linux" && runtime.GOOS != "freebsd" {
		return nil
	}
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return errNoDisplay
	}
	return nil
}
