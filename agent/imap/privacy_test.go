package imap

import (
	"bytes"
	"io"
	"net"
	"slices"
	"sync"
	"testing"

	goimap "github.com/emersion/go-imap/v2"

	"crmsync/agent"
	"crmsync/agent/imap/imaptest"
	"crmsync/agent/maildir"
	"crmsync/agent/outbox"
)

// recordingProxy forwards loopback TCP connections to a server and
// records everything the server sends back.
type recordingProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	rec   bytes.Buffer
	conns []net.Conn
}

// startProxy listens on a loopback port and forwards to target until the
// test ends.
func startProxy(t testing.TB, target string) *recordingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *recordingProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			io.Copy(server, client)
			server.Close()
		}()
		go func() {
			defer p.wg.Done()
			io.Copy(recordTo{p, client}, server)
			client.Close()
		}()
	}
}

// recordTo writes to w and appends to the proxy's recording.
type recordTo struct {
	p *recordingProxy
	w io.Writer
}

func (r recordTo) Write(b []byte) (int, error) {
	r.p.mu.Lock()
	r.p.rec.Write(b)
	r.p.mu.Unlock()
	return r.w.Write(b)
}

// recorded returns what the server sent so far.
func (p *recordingProxy) recorded() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.rec.Bytes())
}

func (p *recordingProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Until a message is tracked, the server sends the agent its header
// fields and nothing else: not its text, not other header fields. Body
// then fetches the text. Nothing sets \Seen.
func TestOnlyListedHeaderFieldsBeforeBody(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t)
	proxy := startProxy(t, srv.Addr())
	s := newSource(t, srv, func(o *Options) {
		o.Account = agent.IMAPAccount{Host: "127.0.0.1", Port: proxy.port(), Security: agent.SecurityNone, Username: imaptest.UserAlice}
	})
	r := start(t, s)
	listed(t, s, r, 2)

	const bodyLine = "UNIQUE-BODY-LINE-7f3a9c"
	const secret = "hush-5e1d"
	raw := message("Thomas Andersen <thomas.andersen@contoso.example>", "Contract draft", "draft@contoso.example",
		"Dear Alice,\r\n"+bodyLine+"\r\nRegards", "X-Secret-Header: "+secret)
	uid := srv.Append(t, imaptest.UserAlice, "INBOX", raw)
	cs := r.wait(t, "the arrival", atLeast(1, maildir.Added, "INBOX"))
	k := keyOf(t, cs, maildir.Added, "INBOX")
	env, err := s.Envelope(k)
	if err != nil || env.Subject != "Contract draft" {
		t.Fatalf("Envelope = %+v, %v", env, err)
	}
	// An envelope not in memory is fetched again the same way.
	s.envs.drop(k)
	if env, err := s.Envelope(k); err != nil || env.MessageID != "draft@contoso.example" {
		t.Fatalf("Envelope after a cache miss = %+v, %v", env, err)
	}
	rec := proxy.recorded()
	if !bytes.Contains(rec, []byte("Contract draft")) {
		t.Fatal("the recording does not hold the subject: the proxy recorded nothing useful")
	}
	for _, banned := range []string{bodyLine, "X-Secret-Header", secret, "Dear Alice"} {
		if bytes.Contains(rec, []byte(banned)) {
			t.Errorf("before Body, the server sent %q", banned)
		}
	}
	if flags := srv.Flags(t, imaptest.UserAlice, "INBOX", uid); slices.Contains(flags, goimap.FlagSeen) {
		t.Errorf("\\Seen set by reading the envelope: %v", flags)
	}

	body, err := s.Body(k)
	if err != nil {
		t.Fatal(err)
	}
	text, _, err := outbox.BodyText(body)
	body.Close()
	if err != nil || !bytes.Contains([]byte(text), []byte(bodyLine)) {
		t.Errorf("BodyText(Body) = %q, %v", text, err)
	}
	if !bytes.Contains(proxy.recorded(), []byte(bodyLine)) {
		t.Error("Body did not fetch the text through the connection")
	}
	if bytes.Contains(proxy.recorded(), []byte(secret)) {
		t.Error("Body fetched header fields beyond the text part's")
	}
	if flags := srv.Flags(t, imaptest.UserAlice, "INBOX", uid); slices.Contains(flags, goimap.FlagSeen) {
		t.Errorf("\\Seen set by Body: %v", flags)
	}
}
