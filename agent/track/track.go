// Package track decides, for each message, whether it is tracked into the
// CRM, and why. Stages run in order and the first that decides wins:
//
//  1. local exclusions (addresses, domains, internal mail): nothing leaves
//     the device;
//  2. already known: the local cache says it is tracked;
//  3. reply to tracked mail: In-Reply-To/References matched against the
//     cache locally, never sent;
//  4. the auto-track scope, asking the CRM only when the scope needs it,
//     and then only with From, To, Cc, Subject and Message-ID.
//
// Every decision carries a Reason the user can read: "why wasn't this
// tracked?" always has an answer.
package track

import (
	"context"
	"fmt"
	"strings"

	"crmsync/agent"
)

// Action is what the pipeline decided.
type Action int

// The actions.
const (
	Skip  Action = iota // leave the message alone
	Track               // create the email activity
	Link                // the CRM already has it: link to the existing activity
)

// String names the action.
func (a Action) String() string {
	switch a {
	case Skip:
		return "skip"
	case Track:
		return "track"
	case Link:
		return "link"
	}
	return "unknown"
}

// Reason explains a decision. Its numeric value is what the cache keeps;
// the text is derived, never stored.
type Reason int

// The reasons. Values are persisted: append only, never renumber.
const (
	ReasonNone            Reason = 0
	ReasonExcludedAddress Reason = 1
	ReasonExcludedDomain  Reason = 2
	ReasonInternal        Reason = 3
	ReasonAlreadyTracked  Reason = 4
	ReasonReplyToTracked  Reason = 5
	ReasonScopeNone       Reason = 6
	ReasonScopeAll        Reason = 7
	ReasonNotReply        Reason = 8
	ReasonSenderInCRM     Reason = 9
	ReasonRecipientInCRM  Reason = 10
	ReasonNoCRMMatch      Reason = 11
	ReasonDuplicateInCRM  Reason = 12
	ReasonInvalidSender   Reason = 13
	ReasonTrackedByUser   Reason = 14
	ReasonUntrackedByUser Reason = 15
	ReasonNoCounterparty  Reason = 16
	ReasonNotPermitted    Reason = 17
	ReasonUnreadable      Reason = 18
	ReasonDeletedInCRM    Reason = 19
	ReasonFailed          Reason = 20
	ReasonTooOld          Reason = 21
	// ReasonFolderRule: the message is in a folder the user mapped to a
	// CRM record, and is tracked regarding it.
	ReasonFolderRule Reason = 22
)

var reasonText = map[Reason]string{
	ReasonNone:            "not decided yet",
	ReasonExcludedAddress: "excluded address",
	ReasonExcludedDomain:  "excluded domain",
	ReasonInternal:        "internal mail (every address is in an internal domain)",
	ReasonAlreadyTracked:  "already tracked",
	ReasonReplyToTracked:  "reply to tracked mail",
	ReasonScopeNone:       "automatic tracking is off",
	ReasonScopeAll:        "automatic tracking of all mail",
	ReasonNotReply:        "not a reply to tracked mail",
	ReasonSenderInCRM:     "sender is in the CRM",
	ReasonRecipientInCRM:  "a recipient is in the CRM",
	ReasonNoCRMMatch:      "no CRM match",
	ReasonDuplicateInCRM:  "already in the CRM (tracked by someone)",
	ReasonInvalidSender:   "sender address missing or invalid",
	ReasonTrackedByUser:   "tracked by you",
	ReasonUntrackedByUser: "untracked by you",
	ReasonNoCounterparty:  "no address besides your own",
	ReasonNotPermitted:    "your CRM role may not sync mail",
	ReasonUnreadable:      "the message could not be read",
	ReasonDeletedInCRM:    "deleted in the CRM by its owner",
	ReasonFailed:          "tracking failed",
	ReasonTooOld:          "older than the automatic tracking window; track it by hand",
	ReasonFolderRule:      "in a folder mapped to a CRM record",
}

// String is the user-readable explanation.
func (r Reason) String() string {
	if s, ok := reasonText[r]; ok {
		return s
	}
	return fmt.Sprintf("reason %d", int(r))
}

// Message is what the pipeline sees of a message: headers only.
type Message struct {
	Key        agent.MessageKey
	MessageID  string
	From       string   // bare address, lower case
	To, Cc     []string // bare addresses, lower case
	Subject    string
	InReplyTo  string
	References []string
	Outgoing   bool // in a sent-mail folder, or From is the user
}

// Decision is the pipeline's verdict.
type Decision struct {
	Action Action
	Reason Reason
	// Detail adds display-only context, e.g. the matched contact's name;
	// held in memory, never persisted.
	Detail string
	// ActivityID is set for Link when the CRM said which activity holds
	// the message; without it the upload finds the activity by Message-ID.
	ActivityID string
}

// Text is the full user-readable explanation.
func (d Decision) Text() string {
	if d.Detail != "" {
		return d.Reason.String() + ": " + d.Detail
	}
	return d.Reason.String()
}

// Verdict is the CRM's answer for the FromCRMRecords scope.
type Verdict struct {
	Match      bool   // a counterparty is a CRM contact, account or lead
	Duplicate  bool   // the CRM already has an activity with this Message-ID
	ActivityID string // the existing activity when Duplicate, if the CRM named it
	Invalid    bool   // the CRM found the sender address invalid
	Detail     string // display-only, e.g. "contact Ann Lee"
}

// Lookups are the pipeline's window on the world, injected so each stage
// stays testable.
type Lookups interface {
	// Tracked reports whether the cache holds a tracked message with this
	// Message-ID. Matching is by hash, locally.
	Tracked(ctx context.Context, messageID string) (bool, error)
	// AnyTracked reports whether any of the Message-IDs is tracked.
	AnyTracked(ctx context.Context, messageIDs []string) (bool, error)
	// Ask asks the CRM about the message. Implementations send From, To,
	// Cc, Subject and Message-ID and nothing else.
	Ask(ctx context.Context, m Message) (Verdict, error)
}

// Policy is the user's tracking choices, as Settings holds them.
type Policy struct {
	Scope             agent.AutoTrackScope
	Self              string   // the user's own address, lower case
	ExcludedAddresses []string // addresses, or domains written "@example.com" or "example.com"
	InternalDomains   []string
}

// Decide runs the stages on m. An error means a lookup failed (e.g. the
// CRM is unreachable): the caller keeps the message undecided and retries.
func Decide(ctx context.Context, p Policy, l Lookups, m Message) (Decision, error) {
	counter := counterparties(p, m)
	if d, ok := excluded(p, m, counter); ok {
		return d, nil
	}
	if m.MessageID != "" {
		tracked, err := l.Tracked(ctx, m.MessageID)
		if err != nil {
			return Decision{}, fmt.Errorf("track: cache lookup: %w", err)
		}
		if tracked {
			return Decision{Action: Skip, Reason: ReasonAlreadyTracked}, nil
		}
	}
	if p.Scope == agent.TrackNone {
		return Decision{Action: Skip, Reason: ReasonScopeNone}, nil
	}
	if refs := replyIDs(m); len(refs) > 0 {
		reply, err := l.AnyTracked(ctx, refs)
		if err != nil {
			return Decision{}, fmt.Errorf("track: cache lookup: %w", err)
		}
		if reply {
			return Decision{Action: Track, Reason: ReasonReplyToTracked}, nil
		}
	}
	switch p.Scope {
	case agent.TrackAll:
		return Decision{Action: Track, Reason: ReasonScopeAll}, nil
	case agent.TrackReplies:
		return Decision{Action: Skip, Reason: ReasonNotReply}, nil
	}
	if !m.Outgoing && m.From == "" {
		return Decision{Action: Skip, Reason: ReasonInvalidSender}, nil
	}
	if len(counter) == 0 {
		return Decision{Action: Skip, Reason: ReasonNoCounterparty}, nil
	}
	v, err := l.Ask(ctx, m)
	if err != nil {
		return Decision{}, fmt.Errorf("track: ask the CRM: %w", err)
	}
	switch {
	case v.Duplicate:
		return Decision{Action: Link, Reason: ReasonDuplicateInCRM, ActivityID: v.ActivityID}, nil
	case v.Invalid:
		return Decision{Action: Skip, Reason: ReasonInvalidSender}, nil
	case v.Match && m.Outgoing:
		return Decision{Action: Track, Reason: ReasonRecipientInCRM, Detail: v.Detail}, nil
	case v.Match:
		return Decision{Action: Track, Reason: ReasonSenderInCRM, Detail: v.Detail}, nil
	}
	return Decision{Action: Skip, Reason: ReasonNoCRMMatch, Detail: v.Detail}, nil
}

// counterparties are the addresses that make a message CRM-relevant: the
// sender of incoming mail, the recipients of outgoing mail; never the user.
func counterparties(p Policy, m Message) []string {
	var in []string
	if m.Outgoing {
		in = append(append(in, m.To...), m.Cc...)
	} else {
		in = []string{m.From}
	}
	out := in[:0:0]
	for _, a := range in {
		if a != "" && a != p.Self {
			out = append(out, a)
		}
	}
	return out
}

// excluded applies the local exclusion list and the internal domains.
func excluded(p Policy, m Message, counter []string) (Decision, bool) {
	for _, a := range counter {
		for _, x := range p.ExcludedAddresses {
			x = strings.ToLower(strings.TrimSpace(x))
			switch {
			case x == "":
			case strings.Contains(x, "@") && !strings.HasPrefix(x, "@"):
				if a == x {
					return Decision{Action: Skip, Reason: ReasonExcludedAddress}, true
				}
			default:
				if domainOf(a) == strings.TrimPrefix(x, "@") {
					return Decision{Action: Skip, Reason: ReasonExcludedDomain}, true
				}
			}
		}
	}
	if len(p.InternalDomains) > 0 {
		all := append(append([]string{m.From}, m.To...), m.Cc...)
		internal, any := true, false
		for _, a := range all {
			if a == "" {
				continue
			}
			any = true
			if !inDomains(domainOf(a), p.InternalDomains) {
				internal = false
				break
			}
		}
		if any && internal {
			return Decision{Action: Skip, Reason: ReasonInternal}, true
		}
	}
	return Decision{}, false
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

func inDomains(d string, domains []string) bool {
	for _, x := range domains {
		x = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(x), "@"))
		if x != "" && (d == x || strings.HasSuffix(d, "."+x)) {
			return true
		}
	}
	return false
}

// replyIDs returns the Message-IDs a reply refers to, without duplicates.
func replyIDs(m Message) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range append([]string{m.InReplyTo}, m.References...) {
		if id != "" && !seen[id] && id != m.MessageID {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
