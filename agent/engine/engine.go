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
	"sync/atomic"
	"time"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/conn"
	"crmsync/agent/crm"
	"crmsync/agent/imap"
	"crmsync/agent/maildir"
	"crmsync/agent/outbox"
	"crmsync/agent/outgoing"
	"crmsync/agent/records"
	"crmsync/agent/sched"
)

// Mail is the mail intake; *maildir.Source and *imap.Source implement it.
type Mail interface {
	Run(ctx context.Context, out chan<- maildir.Change) error
	Envelope(k agent.MessageKey) (maildir.Envelope, error)
	Body(k agent.MessageKey) (io.ReadCloser, error)
	Folder(k agent.MessageKey) (string, bool)
	Progress() (done, total int)
	// Delivered is the modification time of k's file, which the
	// delivering program sets: the arrival time of a message whose name
	// and headers carry none.
	Delivered(k agent.MessageKey) (time.Time, error)
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
	// NewIMAP opens an IMAP account; nil means imap.New.
	NewIMAP func(o imap.Options) (Mail, error)
	// Passwords holds the mail account's password; nil means none is
	// saved, and an IMAP account waits for one.
	Passwords Passwords
}

// Passwords keeps mail account passwords in the keychain, by the
// account's URL (imaps://USER@HOST:PORT). app implements it.
type Passwords interface {
	// MailPassword returns the account's password, or
	// agent.ErrNoCredentials when none is saved.
	MailPassword(ctx context.Context, account string) (string, error)
	SaveMailPassword(ctx context.Context, account, password string) error
}

// Engine implements agent.Backend.
//
// Run's loop owns every mutable piece of engine state (see loop). Other
// goroutines ask it, through do or a channel, or read what it publishes:
// the view (status, settings, connection failure, account) and the
// activities relearned after a cache rebuild, both immutable once stored.
type Engine struct {
	o     Options
	log   *slog.Logger
	clock sched.Clock
	sess  *session
	mail  *mailbox
	conn  *conn.Supervisor
	box   *outbox.Worker

	cmds    chan func(*loop)    // requests run on the loop's goroutine; see do
	connC   chan conn.Status    // supervisor reports, newest kept (connObserver)
	outC    chan outbox.Outcome // outbox outcomes
	changes chan maildir.Change // Maildir changes
	work    chan job            // loop → deciders
	results chan result         // deciders → loop
	writes  chan sorted         // loop → writer: one batch at a time
	wrote   chan written        // writer → loop

	started atomic.Bool   // Run was called; an engine runs once
	stopped chan struct{} // closed when the loop stops taking requests

	view  atomic.Pointer[view]     // never nil; replaced, never changed, by the loop only (loop.publish)
	known atomic.Pointer[knownSet] // nil until relearned; replaced, never changed, by the loop only
	// mailboxID is the user's CRM mailbox (a mailboxOf), learned once.
	mailboxID atomic.Value
	hub       hub // the subscribers
	// syncer keeps records in step with the address book and calendar;
	// nil when it is not running. Stored by its goroutine (startRecords).
	syncer atomic.Pointer[records.Syncer]
	// sender sends the CRM's email through the user's mail account; nil
	// when it is not running. Stored by its goroutine (startOutgoing).
	sender atomic.Pointer[outgoing.Worker]
	perm   permission // whether the CRM lets crmsync send, as last read
}

// view is what the loop publishes for readers on other goroutines. A
// stored view is never modified: the loop builds a new one.
type view struct {
	status   agent.Status
	connErr  error           // the failure behind the connection state, nil when none
	self     string          // the signed-in user's address, lower case; "" when signed out
	userID   string          // the signed-in user's CRM GUID, once known
	settings agent.Settings  // the current settings
	net      context.Context // live while online; cancelled the moment the connection leaves Online
}

// knownSet holds the user's CRM activities by Message-ID hash, learned
// after a cache rebuild.
type knownSet map[string]crm.ActivityInfo

var _ agent.Backend = (*Engine)(nil)

// errStopped is what a request to an engine whose loop has ended gets.
var errStopped = errors.New("engine: stopped")

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
	if o.NewIMAP == nil {
		// Also the compile-time proof that *imap.Source is a Mail.
		o.NewIMAP = func(o imap.Options) (Mail, error) { return imap.New(o) }
	}
	// One clock: the times the cache stamps (an action's next_at) are
	// compared with the outbox's Now.
	o.Store.SetClock(o.Clock.Now)
	e := &Engine{
		o: o, log: o.Logger, clock: o.Clock, sess: &session{}, mail: &mailbox{},
		cmds:    make(chan func(*loop)),
		connC:   make(chan conn.Status, 64),
		outC:    make(chan outbox.Outcome, 64),
		changes: make(chan maildir.Change, 1024),
		work:    make(chan job, 256),
		results: make(chan result, 256),
		writes:  make(chan sorted, 1),
		wrote:   make(chan written, 1),
		stopped: make(chan struct{}),
	}
	e.hub.subs = map[chan agent.Event]struct{}{}
	offline, stop := context.WithCancel(context.Background())
	stop() // not online yet
	e.view.Store(&view{status: agent.Status{State: agent.StateStarting}, net: offline})
	e.sess.redeem = e.redeem
	e.conn = conn.New(conn.Options{Session: e.sess, Clock: o.Clock, Observer: connObserver{e}, Logger: o.Logger, ProbeEvery: o.ProbeEvery})
	e.box = outbox.New(outbox.Options{
		Store: o.Store, Mail: e.mail, CRM: e.sess, Clock: o.Clock, Logger: o.Logger,
		Outgoing: e.isSent,
		// The worker passes its Run context: a report that finds the
		// supervisor gone ends with the engine instead of blocking Run.
		Report:   func(ctx context.Context, err error) { e.conn.Report(ctx, err) },
		Outcomes: e.outC,
	})
	return e, nil
}

// connObserver forwards supervisor reports into the loop without blocking
// the supervisor: if the loop is behind, the oldest report is dropped, as
// only the latest state matters.
type connObserver struct{ e *Engine }

// ConnStatus implements conn.Observer.
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
// serves them all from one loop. Every goroutine the engine starts has
// returned when Run returns.
func (e *Engine) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("engine: Run called twice")
	}
	settings, err := e.o.Settings.Load()
	if err != nil {
		close(e.stopped)
		return fmt.Errorf("engine: load settings: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	g := newGroup(ctx)
	// Deferred in this order so that, on the way out, requests are refused
	// first, then every goroutine is told to stop, then all are joined.
	defer g.Wait()
	defer cancel()
	defer close(e.stopped)

	l := newLoop(e, ctx, g, settings)
	l.loadRules()
	g.Go("connection", e.conn.Run)
	g.Go("outbox", e.box.Run)
	for range e.o.Deciders {
		g.Go("decider", e.decider)
	}
	g.Go("writer", e.writer)
	if !settings.ConnectionEnabled {
		e.conn.SetEnabled(ctx, false)
	}
	l.loadCredentials(ctx)
	l.startMail()
	defer l.stopMail()
	return l.run()
}

// online returns a context that ends when the connection leaves Online, so
// switching off or losing the CRM cancels every request in flight.
func (e *Engine) online() context.Context { return e.view.Load().net }

// withNet returns ctx, also cancelled when the connection leaves Online.
func (e *Engine) withNet(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(e.online(), cancel)
	return ctx, func() { stop(); cancel() }
}

// group starts the engine's goroutines and joins them (errgroup-like):
// each takes the owner's context, and Wait returns once all have
// returned. An error other than the context's own ends Run, through
// fatal. Go is called only by Run and the loop, before Wait.
type group struct {
	ctx   context.Context
	wg    sync.WaitGroup
	fatal chan error // the first fatal error; buffered, later ones dropped
}

func newGroup(ctx context.Context) *group {
	return &group{ctx: ctx, fatal: make(chan error, 1)}
}

// Go runs fn(ctx) on a new goroutine of the group.
func (g *group) Go(name string, fn func(ctx context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := fn(g.ctx); err != nil && !errors.Is(err, context.Canceled) {
			select {
			case g.fatal <- fmt.Errorf("engine: %s: %w", name, err):
			default:
			}
		}
	}()
}

// Wait waits for every goroutine of the group.
func (g *group) Wait() { g.wg.Wait() }
