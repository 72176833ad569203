package track

import (
	"context"
	"errors"
	"testing"

	"crmsync/agent"
)

// lookups is an in-memory Lookups that records whether the CRM was asked.
type lookups struct {
	tracked map[string]bool
	verdict Verdict
	err     error
	asked   []Message
}

func (l *lookups) Tracked(_ context.Context, id string) (bool, error) { return l.tracked[id], nil }

func (l *lookups) AnyTracked(_ context.Context, ids []string) (bool, error) {
	for _, id := range ids {
		if l.tracked[id] {
			return true, nil
		}
	}
	return false, nil
}

func (l *lookups) Ask(_ context.Context, m Message) (Verdict, error) {
	l.asked = append(l.asked, m)
	return l.verdict, l.err
}

func TestDecide(t *testing.T) {
	base := Message{Key: "k", MessageID: "m1@x", From: "ann@customer.example", To: []string{"me@corp.example"}, Subject: "Quote"}
	policy := Policy{Scope: agent.TrackFromCRMRecords, Self: "me@corp.example",
		ExcludedAddresses: []string{"noreply@shop.example", "@spam.example", "news.example"}, InternalDomains: []string{"corp.example"}}
	with := func(f func(*Message)) Message { m := base; f(&m); return m }
	scope := func(s agent.AutoTrackScope) Policy { p := policy; p.Scope = s; return p }
	tests := []struct {
		name    string
		policy  Policy
		msg     Message
		tracked map[string]bool
		verdict Verdict
		want    Decision
		asks    bool // whether the CRM may be asked
	}{
		{"excluded address", policy, with(func(m *Message) { m.From = "noreply@shop.example" }), nil, Verdict{}, Decision{Action: Skip, Reason: ReasonExcludedAddress}, false},
		{"excluded @domain", policy, with(func(m *Message) { m.From = "x@spam.example" }), nil, Verdict{}, Decision{Action: Skip, Reason: ReasonExcludedDomain}, false},
		{"excluded bare domain", policy, with(func(m *Message) { m.From = "x@news.example" }), nil, Verdict{}, Decision{Action: Skip, Reason: ReasonExcludedDomain}, false},
		{"internal mail", policy, with(func(m *Message) { m.From = "boss@corp.example"; m.Cc = []string{"hr@eu.corp.example"} }), nil, Verdict{}, Decision{Action: Skip, Reason: ReasonInternal}, false},
		{"already tracked", policy, base, map[string]bool{"m1@x": true}, Verdict{}, Decision{Action: Skip, Reason: ReasonAlreadyTracked}, false},
		{"scope none", scope(agent.TrackNone), base, nil, Verdict{}, Decision{Action: Skip, Reason: ReasonScopeNone}, false},
		{"reply to tracked, matched locally", policy, with(func(m *Message) { m.References = []string{"old@x", "t@x"} }), map[string]bool{"t@x": true}, Verdict{}, Decision{Action: Track, Reason: ReasonReplyToTracked}, false},
		{"replies scope, not a reply", scope(agent.TrackReplies), base, nil, Verdict{}, Decision{Action: Skip, Reason: ReasonNotReply}, false},
		{"replies scope, a reply", scope(agent.TrackReplies), with(func(m *Message) { m.InReplyTo = "t@x" }), map[string]bool{"t@x": true}, Verdict{}, Decision{Action: Track, Reason: ReasonReplyToTracked}, false},
		{"all mail", scope(agent.TrackAll), base, nil, Verdict{}, Decision{Action: Track, Reason: ReasonScopeAll}, false},
		{"sender is a contact", policy, base, nil, Verdict{Match: true, Detail: "contact Ann Lee"}, Decision{Action: Track, Reason: ReasonSenderInCRM, Detail: "contact Ann Lee"}, true},
		{"no CRM match", policy, base, nil, Verdict{}, Decision{Action: Skip, Reason: ReasonNoCRMMatch}, true},
		{"duplicate in CRM", policy, base, nil, Verdict{Duplicate: true, ActivityID: "a1"}, Decision{Action: Link, Reason: ReasonDuplicateInCRM, ActivityID: "a1"}, true},
		{"CRM says sender invalid", policy, base, nil, Verdict{Invalid: true}, Decision{Action: Skip, Reason: ReasonInvalidSender}, true},
		{"no sender", policy, with(func(m *Message) { m.From = ""; m.Cc = []string{"x@other.example"} }), nil, Verdict{}, Decision{Action: Skip, Reason: ReasonInvalidSender}, false},
		{"incoming from myself", policy, with(func(m *Message) { m.From = "me@corp.example"; m.To = []string{"x@other.example"} }), nil, Verdict{}, Decision{Action: Skip, Reason: ReasonNoCounterparty}, false},
		{"outgoing to a contact", policy, with(func(m *Message) {
			m.Outgoing = true
			m.From = "me@corp.example"
			m.To = []string{"ann@customer.example"}
		}), nil, Verdict{Match: true}, Decision{Action: Track, Reason: ReasonRecipientInCRM}, true},
		{"outgoing to nobody but me", policy, with(func(m *Message) { m.Outgoing = true; m.From = "me@corp.example"; m.To = []string{"me@corp.example"} }), nil, Verdict{}, Decision{Action: Skip, Reason: ReasonInternal}, false},
	}
	for _, tt := range tests {
		l := &lookups{tracked: tt.tracked, verdict: tt.verdict}
		got, err := Decide(context.Background(), tt.policy, l, tt.msg)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: got %+v (%s), want %+v", tt.name, got, got.Text(), tt.want)
		}
		if asked := len(l.asked) > 0; asked != tt.asks {
			t.Errorf("%s: asked the CRM = %v, want %v: nothing may leave the device unless the scope needs it", tt.name, asked, tt.asks)
		}
		if got.Reason.String() == "" || got.Text() == "" {
			t.Errorf("%s: decision has no readable reason", tt.name)
		}
	}
}

func TestDecideCRMFailureLeavesUndecided(t *testing.T) {
	l := &lookups{err: errors.New("unreachable")}
	_, err := Decide(context.Background(), Policy{}, l, Message{MessageID: "m", From: "a@b.example"})
	if err == nil {
		t.Fatal("a failed CRM lookup must not become a decision")
	}
}

func TestReasonTextsComplete(t *testing.T) {
	for r := ReasonNone; r <= ReasonFolderRule; r++ {
		if _, ok := reasonText[r]; !ok {
			t.Errorf("reason %d has no text", r)
		}
	}
}
