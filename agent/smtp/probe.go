package smtp

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"crmsync/agent/internal/transport"
)

// probeTimeout bounds a connection test whose context has no deadline.
const probeTimeout = 30 * time.Second

// Step is one stage of a connection test, for the settings window.
type Step struct {
	Name    string // "DNS", "Connect", "TLS" or "Login"; "Settings" when the account cannot be right
	OK      bool   // the stage passed
	Warning bool   // it passed, but with something the user should know
	Detail  string // a sentence the user can act on
}

// The names of the steps, in their order.
const (
	StepSettings = "Settings"
	StepDNS      = "DNS"
	StepConnect  = "Connect"
	StepTLS      = "TLS"
	StepLogin    = "Login"
)

// Probe is the settings window's "Test connection": it looks the server
// up, connects, secures the connection and signs in with password, then
// says QUIT; it sends no mail. It returns the steps it took, the last
// one failed when one did; the steps after a failure are not taken.
func Probe(ctx context.Context, a Account, password string) []Step {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, probeTimeout)
		defer cancel()
	}
	if err := CheckAccount(a); err != nil {
		return []Step{{Name: StepSettings, Detail: sentence(err.Error())}}
	}
	if a.Username != "" && password == "" {
		return []Step{{Name: StepSettings, Detail: "Enter the password of the outgoing mail account."}}
	}
	cfg, err := tlsConfig(a)
	if err != nil {
		return []Step{{Name: StepSettings, Detail: sentence(err.Error())}}
	}
	var steps []Step
	if net.ParseIP(strings.Trim(a.Host, "[]")) != nil || transport.IsLoopback(a.Host) {
		steps = append(steps, Step{Name: StepDNS, OK: true, Detail: sentence(a.Host + " needs no look-up")})
	} else {
		addrs, err := net.DefaultResolver.LookupHost(ctx, a.Host)
		if err != nil {
			return append(steps, Step{Name: StepDNS, Detail: detail(classifyDial(a.Addr(), err))})
		}
		steps = append(steps, Step{Name: StepDNS, OK: true, Detail: sentence(a.Host + " is at " + strings.Join(addrs, ", "))})
	}
	c, err := dial(ctx, a, cfg, "localhost")
	if err != nil {
		return append(steps, failedSteps(ended(ctx, a.Addr(), false, err))...)
	}
	defer c.close()
	steps = append(steps, Step{Name: StepConnect, OK: true, Detail: sentence("Connected to " + a.Addr() + "; the server greets with: " + c.greeting)})
	switch {
	case c.secure != nil:
		steps = append(steps, Step{Name: StepTLS, OK: true, Detail: sentence("The connection is " + c.describe())})
	case c.plain:
		steps = append(steps, Step{Name: StepTLS, OK: true, Warning: true,
			Detail: "The server offers no STARTTLS, so mail goes to it unencrypted; that is safe only because the server is on this computer."})
	default:
		steps = append(steps, Step{Name: StepTLS, OK: true, Warning: true,
			Detail: "The connection is not encrypted, as set; that is allowed only because the server is on this computer."})
	}
	if a.Username == "" {
		steps = append(steps, Step{Name: StepLogin, OK: true, Warning: true,
			Detail: "No user name is set, so mail is sent without signing in, which only a server on this computer may allow."})
		c.quit()
		return steps
	}
	mech, err := c.auth(ctx, Options{Password: password})
	if err != nil {
		return append(steps, Step{Name: StepLogin, Detail: detail(ended(ctx, a.Addr(), false, err))})
	}
	steps = append(steps, Step{Name: StepLogin, OK: true, Detail: sentence("Signed in as " + a.Username + " with " + mech)})
	c.quit()
	return steps
}

// failedSteps reports a failed dial: the steps before the failed one
// passed.
func failedSteps(err error) []Step {
	var se *stepError
	st := stepConnect
	if errors.As(err, &se) {
		st = se.step
	}
	fail := Step{Name: StepConnect, Detail: detail(err)}
	if st == stepTLS {
		fail.Name = StepTLS
		return []Step{{Name: StepConnect, OK: true, Detail: "The server answers on its port."}, fail}
	}
	// A DNS failure here, after the look-up passed, is the connection's.
	return []Step{fail}
}

// detail is err as a step's sentence: what went wrong and what to do,
// with the server's own words when it said any, but not the network
// library's, which a user cannot act on.
func detail(err error) string {
	var (
		se *stepError
		sv *serverError
	)
	if !errors.As(err, &se) {
		return sentence(err.Error())
	}
	if errors.As(se.err, &sv) {
		return sentence(se.msg + "; " + sv.Error())
	}
	return sentence(se.msg)
}

// sentence makes s start with a capital and end with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
