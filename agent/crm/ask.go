package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Question is one message's tracking question; only these fields leave the device before a decision.
type Question struct {
	Headers  Headers // From, To, Cc, Subject, Message-ID
	Outgoing bool    // mail the user sent: no CheckIncomingEmail; the recipients decide
	// Known are parties the caller knows already, typically the signed-in
	// user as a system user: they are used, and remembered for the track
	// that follows, without asking.
	Known []Party
	// OwnDomains are the mail domains of the user's organisation, lower
	// case. A sender outside them is no CRM user, so it is not looked up:
	// a sender binds a user or a queue only, and the lookup would cost a
	// query for the many messages from outside. Empty looks every sender up.
	OwnDomains []string
}

// Answer is the CRM's answer to one Question.
type Answer struct {
	Check CheckResult // zero for Outgoing questions
	// Parties are From, then each To, then each Cc, resolved where a record
	// matches (as ResolveParties does); From as a sender: a system user, or
	// unresolved, since a sender binds a user or a queue only.
	Parties  []Party
	Existing *ActivityInfo // the activity that already carries the Message-ID (anyone's), nil when none
	Err      error         // this question's own failure; nil when answered
}

// midChunk bounds the Message-IDs of one duplicate check: 20 IDs of at
// most 320 characters keep the URL far below the 64 KB a batch allows.
const midChunk = 20

// emailSelect is what the client reads of an email wherever it reads an
// ActivityInfo.
const emailSelect = "activityid,messageid,_ownerid_value,_regardingobjectid_value,statecode,directioncode"

// Ask answers many questions with one $batch of GETs: CheckIncomingEmail
// per received message, the party resolution of their addresses, and for
// sent mail the duplicate check by Message-ID (for received mail,
// CheckIncomingEmail's Duplicate reason is that check).
//
// Recipients are resolved across the questions in one GET per table per
// 20 addresses; senders against system users only; the duplicate check
// asks for 20 Message-IDs per GET. What was resolved or found is
// remembered for two minutes, so the TrackEmails that follows a decision
// sends no GET for it. A failure of the whole batch is returned; one
// part's failure goes into the Err of each Answer that needed it.
func (c *HTTPClient) Ask(ctx context.Context, qs []Question) ([]Answer, error) {
	const op = "ask the CRM"
	out := make([]Answer, len(qs))
	valid := make([]bool, len(qs))
	var items []batchItem
	checkItem := make([]int, len(qs)) // item index of each question's check; -1 for none
	var addrs, senders, mids []string
	seenAddr, seenSender, seenMid := map[string]bool{}, map[string]bool{}, map[string]bool{}
	k := known{parties: map[string]Party{}, senders: map[string]Party{}, msgs: map[string]*ActivityInfo{}}
	for i, q := range qs {
		checkItem[i] = -1
		for _, p := range q.Known {
			if p.Resolved() {
				c.memo.putParty(p.Address, p)
			}
		}
		h := q.Headers
		if h.MessageID == "" || len(h.MessageID) > messageIDMax {
			out[i].Err = &Error{Op: op, Kind: KindBadRequest, Message: "the Message-ID is empty or longer than 320 characters"}
			continue
		}
		valid[i] = true
		if !q.Outgoing {
			checkItem[i] = len(items)
			items = append(items, batchItem{ops: []batchOp{{name: "check incoming email", method: http.MethodGet, path: checkPath(h)}}})
		}
		for _, a := range questionAddrs(h)[1:] {
			if addrKey(a) == "" || seenAddr[addrKey(a)] {
				continue
			}
			seenAddr[addrKey(a)] = true
			if p, ok := c.memo.party(a); ok {
				k.parties[addrKey(a)] = p
			} else {
				addrs = append(addrs, addrKey(a))
			}
		}
		if a := addrKey(h.From); a != "" && !seenSender[a] {
			seenSender[a] = true
			if outside(a, q.OwnDomains) {
				k.senders[a] = Party{}
				c.memo.putSender(a, Party{}) // the track need not look either
			} else if p, ok := c.memo.sender(a); ok {
				k.senders[a] = p
			} else {
				senders = append(senders, a)
			}
		}
		if mk := midKey(h.MessageID); q.Outgoing && !seenMid[mk] {
			seenMid[mk] = true
			if info, ok := c.memo.message(h.MessageID); ok {
				k.msgs[mk] = info
			} else {
				mids = append(mids, h.MessageID)
			}
		}
	}
	// A sender who is a recipient too is resolved in full, which answers
	// for the sender as well.
	senders = slices.DeleteFunc(senders, func(a string) bool { return seenAddr[a] })
	res := c.resolveItems(addrs, senders, &items)
	dup := c.findItems(mids, &items)
	if len(items) == 0 {
		k.fill(qs, valid, out)
		return out, nil
	}
	answers, err := c.batch(ctx, op, items)
	if err != nil {
		return nil, err
	}
	for i, q := range qs {
		if ci := checkItem[i]; ci >= 0 {
			a := answers[ci][0]
			if a.err != nil {
				out[i].Err = a.err
				continue
			}
			out[i].Check, out[i].Err = decodeCheck("check incoming email", a.response())
			if out[i].Err == nil && out[i].Check.Reason != ReasonDuplicate {
				// The CRM holds no copy: the track need not look again.
				c.memo.putMessage(q.Headers.MessageID, nil)
			}
		}
	}
	res.collect(ctx, c, answers, &k)
	dup.collect(ctx, c, answers, &k)
	k.fill(qs, valid, out)
	return out, nil
}

// outside reports whether addr's domain is none of domains (and domains
// are given).
func outside(addr string, domains []string) bool {
	if len(domains) == 0 {
		return false
	}
	i := strings.LastIndexByte(addr, '@')
	return i >= 0 && !slices.Contains(domains, addr[i+1:])
}

// known is what one Ask learned or remembered, by lower-case key.
type known struct {
	parties map[string]Party // resolved in full
	senders map[string]Party // resolved as senders only (system users)
	addrErr map[string]error
	msgs    map[string]*ActivityInfo // present with nil: the CRM holds no such message
	midErr  map[string]error
}

// fill completes each valid question's parties and existing activity; an
// address or Message-ID whose query failed passes its error on.
func (k known) fill(qs []Question, valid []bool, out []Answer) {
	for i, q := range qs {
		if !valid[i] {
			continue
		}
		setErr := func(err error) {
			if out[i].Err == nil {
				out[i].Err = err
			}
		}
		for n, a := range questionAddrs(q.Headers) {
			p := Party{Address: a}
			r, ok := k.parties[addrKey(a)]
			if n == 0 {
				if ok && r.Entity != "systemuser" {
					r = Party{} // a sender binds a user or a queue only
				} else if !ok {
					r, ok = k.senders[addrKey(a)]
				}
			}
			if ok {
				p.Entity, p.ID, p.Name = r.Entity, r.ID, r.Name
			} else if err := k.addrErr[addrKey(a)]; err != nil {
				setErr(err)
			}
			out[i].Parties = append(out[i].Parties, p)
		}
		mk := midKey(q.Headers.MessageID)
		if info, ok := k.msgs[mk]; ok {
			if info != nil {
				cp := *info
				out[i].Existing = &cp
			}
		} else if err := k.midErr[mk]; err != nil {
			setErr(err)
		}
	}
}

// questionAddrs lists From, then each To, then each Cc.
func questionAddrs(h Headers) []string {
	out := make([]string, 0, 1+len(h.To)+len(h.Cc))
	out = append(out, h.From)
	out = append(out, h.To...)
	return append(out, h.Cc...)
}

// resolution is the batched party resolution of a set of addresses.
type resolution struct {
	chunks []resolveChunk
}

type resolveChunk struct {
	r      resolver
	addrs  []string // lower-case keys
	item   int      // index of its GET in the batch
	sender bool     // resolved as senders: system users only
}

// resolveItems adds to items one GET per table per 20 recipient
// addresses, and one GET of system users per 20 sender addresses.
func (c *HTTPClient) resolveItems(addrs, senders []string, items *[]batchItem) *resolution {
	res := &resolution{}
	add := func(list []string, tables []resolver, sender bool) {
		for start := 0; start < len(list); start += maxResolveAddrs {
			chunk := list[start:min(start+maxResolveAddrs, len(list))]
			for _, r := range tables {
				res.chunks = append(res.chunks, resolveChunk{r, chunk, len(*items), sender})
				*items = append(*items, batchItem{ops: []batchOp{{name: "resolve addresses in " + r.set, method: http.MethodGet,
					path: r.path(chunk)}}})
			}
		}
	}
	add(addrs, resolvers, false)
	add(senders, resolvers[:1], true)
	return res
}

// collect applies Dataverse's precedence (system user, contact, account;
// the first-created active row within a table) to the answers, and
// records and remembers each address's resolution, or the error of its
// failed query.
func (res *resolution) collect(ctx context.Context, c *HTTPClient, answers [][]batchAnswer, k *known) {
	failed := map[string]error{}
	k.addrErr = failed
	byTable := make([]map[string]match, len(resolvers))
	for t := range byTable {
		byTable[t] = map[string]match{}
	}
	for _, ch := range res.chunks {
		wanted := make(map[string]bool, len(ch.addrs))
		for _, a := range ch.addrs {
			wanted[a] = true
		}
		t := tableIndex(ch.r)
		op := "resolve addresses in " + ch.r.set
		err := c.rows(ctx, op, answers[ch.item][0], resolvePageSize, func(row json.RawMessage) error {
			return ch.r.match(op, row, wanted, byTable[t])
		})
		if err != nil {
			for _, a := range ch.addrs {
				failed[a] = err
			}
		}
	}
	for _, ch := range res.chunks {
		for _, a := range ch.addrs {
			if failed[a] != nil {
				continue
			}
			p := Party{Address: a}
			for t, r := range resolvers {
				if m, ok := byTable[t][a]; ok {
					p.Entity, p.ID, p.Name = r.entity, m.id, m.name // the memo keeps the IDs only
					break
				}
			}
			if ch.sender {
				k.senders[a] = p
				c.memo.putSender(a, p)
				continue
			}
			k.parties[a] = p
			c.memo.putParty(a, p)
		}
	}
}

func tableIndex(r resolver) int {
	for i, x := range resolvers {
		if x.set == r.set {
			return i
		}
	}
	return 0
}

// duplicates is the batched duplicate check of a set of Message-IDs.
type duplicates struct {
	chunks []midChunkItem
}

type midChunkItem struct {
	mids []string
	item int
}

// findItems adds one GET per 20 Message-IDs to items.
func (c *HTTPClient) findItems(mids []string, items *[]batchItem) *duplicates {
	d := &duplicates{}
	for start := 0; start < len(mids); start += midChunk {
		chunk := mids[start:min(start+midChunk, len(mids))]
		terms := make([]string, len(chunk))
		for i, m := range chunk {
			terms[i] = "messageid eq " + quote(m)
		}
		path := "emails" + query("$select", emailSelect, "$filter", strings.Join(terms, " or "), "$orderby", "createdon asc")
		d.chunks = append(d.chunks, midChunkItem{chunk, len(*items)})
		*items = append(*items, batchItem{ops: []batchOp{{name: "find emails by Message-ID", method: http.MethodGet,
			path: path, header: preferHeader(0, true)}}})
	}
	return d
}

// collect records and remembers, per Message-ID, the first-created
// activity carrying it or its absence, or the error of its failed query.
func (d *duplicates) collect(ctx context.Context, c *HTTPClient, answers [][]batchAnswer, k *known) {
	failed := map[string]error{}
	k.midErr = failed
	for _, ch := range d.chunks {
		const op = "find emails by Message-ID"
		found := map[string]ActivityInfo{}
		err := c.rows(ctx, op, answers[ch.item][0], 0, func(row json.RawMessage) error {
			a, err := decodeActivity(op, row)
			if err != nil {
				return err
			}
			if _, ok := found[midKey(a.MessageID)]; !ok {
				found[midKey(a.MessageID)] = a
			}
			return nil
		})
		for _, m := range ch.mids {
			if err != nil {
				failed[midKey(m)] = err
				continue
			}
			if a, ok := found[midKey(m)]; ok {
				k.msgs[midKey(m)] = &a
				c.memo.putMessage(m, &a)
			} else {
				k.msgs[midKey(m)] = nil
				c.memo.putMessage(m, nil)
			}
		}
	}
}

// rows calls fn for every row of a collection answered inside a batch,
// following its nextLink, if any, with ordinary GETs.
func (c *HTTPClient) rows(ctx context.Context, op string, a batchAnswer, pageSize int, fn func(json.RawMessage) error) error {
	if a.err != nil {
		return a.err
	}
	var col collection
	if err := decode(op, a.response(), &col); err != nil {
		return err
	}
	if col.Value == nil {
		return &Error{Op: op, Kind: KindBadResponse, Status: a.status, Message: "the answer has no value array"}
	}
	for _, row := range col.Value {
		if err := fn(row); err != nil {
			return err
		}
	}
	if col.NextLink == "" {
		return nil
	}
	if err := c.queryAll(ctx, op, col.NextLink, pageSize, fn); err != nil {
		return fmt.Errorf("crm: %s: next page: %w", op, err)
	}
	return nil
}
