package maildir

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"crmsync/agent/agenttest"
)

// TestOddMessages: every odd message is parsed or refused with a reason,
// quickly, and what is parsed is what a reader of the message would say.
func TestOddMessages(t *testing.T) {
	type want struct {
		from, subject, id string
		to                int
		synthetic         bool
	}
	wants := map[string]want{
		"8bit-header.eml":               {from: "m@x.example", subject: "Grüße aus Köln", id: "8bit@x.example", to: 1},
		"500-recipients.eml":            {from: "a@x.example", subject: "500 recipients", id: "many@x.example", to: 500},
		"nested-groups.eml":             {from: "a@x.example", subject: "nested groups", id: "groups@x.example", to: 2},
		"no-from.eml":                   {from: "", subject: "no sender at all", id: "nofrom@x.example", to: 1},
		"2mb-header.eml":                {from: "a@x.example", subject: "huge header", id: "huge@x.example", to: 1},
		"2mb-folded-header.eml":         {from: "a@x.example", subject: "many continuation lines", id: "folded@x.example", to: 1},
		"bare-lf.eml":                   {from: "lf@x.example", subject: "bare line feeds", id: "lf@x.example", to: 1},
		"header-only-no-blank-line.eml": {from: "h@x.example", subject: "header only", id: "hdronly@x.example", to: 1},
		"junk-line-in-header.eml":       {from: "j@x.example", subject: "junk line", id: "junkline@x.example", to: 1},
		"duplicate-message-id.eml":      {from: "d@x.example", subject: "two ids", id: "first@x.example", to: 1},
		"message-id-junk.eml":           {from: "m@x.example", subject: "odd id", synthetic: true, to: 1},
		"raw-utf8-headers.eml":          {from: "jürgen@bücher.example", subject: "Grüße, 你好, привет", id: "utf8@x.example", to: 1},
		"encoded-word-address.eml":      {from: "fp@x.example", subject: "encoded display names", id: "ewaddr@x.example", to: 1},
		"source-route.eml":              {from: "user@x.example", subject: "obsolete source route", id: "route@x.example", to: 1},
		"unknown-charset.eml":           {from: "u@x.example", subject: "tlhIngan Hol", id: "charset@x.example", to: 1},
		"nul-bytes.eml":                 {from: "nul@x.example", subject: "NUL", id: "nul@x.example", to: 1},
	}
	odd, err := agenttest.OddMessages()
	if err != nil || len(odd) == 0 {
		t.Fatalf("the odd corpus: %d messages, %v", len(odd), err)
	}
	for name, msg := range odd {
		start := time.Now()
		e, err := ParseHeader(bytes.NewReader(msg))
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %s", name, d) // a stall, not a speed measure
		}
		if strings.HasPrefix(name, "refused-") {
			if !errors.Is(err, ErrNotMessage) || len(err.Error()) < len("maildir: parse header: ")+10 {
				t.Errorf("%s: got %v, want a refusal with its reason", name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if e.MessageID == "" {
			t.Errorf("%s: no message ID", name)
		}
		w, ok := wants[name]
		if !ok {
			continue // parsed; nothing more is promised about it
		}
		if e.From.Addr != w.from || e.Subject != w.subject || len(e.To) != w.to || e.Synthetic != w.synthetic || !w.synthetic && e.MessageID != w.id {
			t.Errorf("%s: from %q subject %q to %d id %q (synthetic %v); want %+v", name, e.From.Addr, e.Subject, len(e.To), e.MessageID, e.Synthetic, w)
		}
	}
}
