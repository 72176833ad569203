// Package engine is the tracking agent: it implements agent.Backend by
// composing the Maildir intake, the decision pipeline, the IDs-only cache,
// the durable outbox and the connection supervisor. One goroutine's Run
// loop owns the engine's state; everything else talks to it through
// channels, and the UI reads snapshots.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/conn"
	"crmsync/agent/crm"
	"crmsync/agent/maildir"
	"crmsync/agent/outbox"
	"crmsync/agent/sched"
)

// Mail is the Maildir intake; *maildir.Source implements it.
type Mail interface {
	Run(ctx context.Context, out chan<- maildir.Change) error
	Envelope(k agent.MessageKey) (maildir.Envelope, error)
	Body(k agent.MessageKey) (io.ReadCloser, error)
	Folder(k agent.MessageKey) (string, bool)
	Progress() (done, total int)
}

// Options are the engine's injected parts.
type Options struct {
	Store *cache.Store
	// NewMail opens the Maildir at root, watching folders (Maildir++ names
	// such as ".Sent") besides the inbox. The engine calls it for the mail
	// folder in the settings, and again when the user changes it.
	NewMail  func(root string, folders []string) Mail
	Secrets  agent.Secrets
	Settings agent.SettingsStore
	// NewClient builds a CRM client for an address; it refuses http:// for
	// anything but loopback.
	NewClient func(crmURL string) (*crm.HTTPClient, error)
	Clock     sched.Clock
	Logger    *slog.Logger
	// SentFolders are the Maildir++ folders that hold the user's sent mail.
	SentFolders []string
	// Lookback limits automatic tracking to mail received this recently,
	// so a first start does not upload years of mail; 0 means 14 days.
	Lookback time.Duration
	// ProbeEvery is the connection probe interval while online; 0 means 5 min.
	ProbeEvery time.Duration
	// Deciders is how many messages are read and decided in parallel; 0 means 2.
	Deciders int
	// SignIn says how to reach the sign-in service; the zero value
	// discovers it from the CRM.
	SignIn SignInOptions
}

// Engine implements agent.Backend.
type Engine struct {
	o     Options
	log   *slog.Logger
	clock sched.Clock
	sess  *session
	mail  *mailbox
	conn  *conn.Supervisor
	box   *outbox.Worker

	cmds    chan func(*loop)
	connC   chan conn.Status
	outC    chan outbox.Outcome
	changes chan maildir.Change
	work    chan job
	results chan result

	mu       sync.Mutex
	self     string                      // the signed-in user's address, lower case; written by the loop
	netCtx   context.Context             // live while online; cancelled the moment the connection leaves Online
	netStop  context.CancelFunc          // cancels netCtx
	status   agent.Status                // snapshot for Status(); written by the loop
	connErr  error                       // the failure behind the connection state; written by the loop
	settings agent.Settings              // snapshot for Settings(); written by the loop
	texts    map[agent.MessageKey]string // last outcome text per message; display only
	known    map[string]crm.ActivityInfo // after a cache rebuild: the user's activities by Message-ID hash
	sent     []agent.Disclosure          // ring of recent disclosures, oldest first; memory only
	subs     map[chan agent.Event]struct{}
	seq      uint64
	started  bool
}

var _ agent.Backend = (*Engine)(nil)

// New builds an engine; Run starts it.
func New(o Options) (*Engine, error) {
	if o.Store == nil || o.NewMail == nil || o.Secrets == nil || o.Settings == nil || o.NewClient == nil {
		return nil, errors.New("engine: Store, NewMail, Secrets, Settings and NewClient are required")
	}
	if o.Clock == nil {
		o.Clock = sched.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Lookback <= 0 {
		o.Lookback = 14 * 24 * time.Hour
	}
	if o.Deciders <= 0 {
		o.Deciders = 2
	}
	e := &Engine{
		o: o, log: o.Logger, clock: o.Clock, sess: &session{}, mail: &mailbox{},
		cmds:    make(chan func(*loop)),
		connC:   make(chan conn.Status, 64),
		outC:    make(chan outbox.Outcome, 64),
		changes: make(chan maildir.Change, 1024),
		work:    make(chan job, 256),
		results: make(chan result, 256),
		texts:   map[agent.MessageKey]string{},
		subs:    map[chan agent.Event]struct{}{},
		status:  agent.Status{State: agent.StateStarting},
	}
	e.sess.redeem = e.redeem
	e.netCtx, e.netStop = context.WithCancel(context.Background())
	e.netStop() // not online yet
	e.conn = conn.New(conn.Options{Session: e.sess, Clock: o.Clock, Observer: connObserver{e}, Logger: o.Logger, ProbeEvery: o.ProbeEvery})
	e.box = outbox.New(outbox.Options{
		Store: o.Store, Mail: e.mail, CRM: e.sess, Clock: o.Clock, Logger: o.Logger,
		Outgoing: e.isSent,
		Report:   func(err error) { e.conn.Report(context.Background(), err) },
		Outcomes: e.outC,
	})
	return e, nil
}

// connObserver forwards supervisor reports into the loop without blocking
// the supervisor: if the loop is behind, the oldest report is dropped, as
// only the latest state matters.
type connObserver struct{ e *Engine }

func (c connObserver) ConnStatus(s conn.Status) {
	for {
		select {
		case c.e.connC <- s:
			return
		default:
			select {
			case <-c.e.connC:
			default:
			}
		}
	}
}

// Run runs the engine until ctx ends. It loads settings and credentials,
// starts the intake, the deciders, the outbox and the connection, and then
// serves them all from one loop.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("engine: Run called twice")
	}
	e.started = true
	e.mu.Unlock()

	settings, err := e.o.Settings.Load()
	if err != nil {
		return fmt.Errorf("engine: load settings: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l := &loop{e: e, settings: settings, waiting: map[agent.MessageKey]bool{}, queued: map[agent.MessageKey]bool{},
		mailFailed: make(chan error, 1)}
	e.publishSettings(settings)

	fatal := make(chan error, 1)
	l.fatal = fatal
	var wg sync.WaitGroup
	spawn := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
				select {
				case fatal <- fmt.Errorf("engine: %s: %w", name, err):
				default:
				}
			}
		}()
	}
	spawn("connection", e.conn.Run)
	spawn("outbox", e.box.Run)
	for range e.o.Deciders {
		spawn("decider", e.decider)
	}
	defer wg.Wait()
	defer cancel()

	if !settings.ConnectionEnabled {
		e.conn.SetEnabled(ctx, false)
	}
	l.ctx = ctx
	l.loadCredentials(ctx)
	l.startMail(ctx)
	defer l.stopMail()
	return l.run(ctx)
}

// online returns a context that ends when the connection leaves Online, so
// switching off or losing the CRM cancels every request in flight.
func (e *Engine) online() context.Context {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.netCtx
}

// withNet returns ctx, also cancelled when the connection leaves Online.
func (e *Engine) withNet(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(e.online(), cancel)
	return ctx, func() { stop(); cancel() }
}
