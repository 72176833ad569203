package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// completions notes, for requests answered at answered (Unix ns), each
// email they left completed: a create with statecode 1, an update setting
// statecode 1 (addressed by id or, in a change set, as "$n"), or the
// DeliverIncomingEmail and DeliverPromoteEmail actions, which complete
// the email they create or promote. The time kept for a Message-ID is the
// first such answer with a success status; the ids of created emails come
// from the body (a client-chosen activityid) or the OData-EntityId header
// of a plain create. Called with m.mu held.
func (m *meter) completions(parts []part, statuses []int, header http.Header, answered int64) {
	created := map[string]string{} // "item/contentID" -> messageid, for "$n" references
	for i, p := range parts {
		ok := statuses[i] >= 200 && statuses[i] < 300
		var b struct {
			ActivityID string `json:"activityid"`
			MessageID  string `json:"messageid"`
			MessageID2 string `json:"MessageId"`
			StateCode  *int   `json:"statecode"`
		}
		if len(p.body) > 0 && json.Unmarshal(p.body, &b) != nil {
			continue
		}
		path, _, _ := strings.Cut(p.path, "?")
		done := b.StateCode != nil && *b.StateCode == 1
		switch {
		case p.method == http.MethodPost && path == "emails":
			id := strings.ToLower(b.ActivityID)
			if id == "" && header != nil {
				id = entityID(header.Get("OData-EntityId"))
			}
			if !ok || b.MessageID == "" {
				continue
			}
			if id != "" {
				m.ids[id] = b.MessageID
			}
			if p.contentID != "" {
				created[keyOf(p)] = b.MessageID
			}
			if done {
				m.complete(b.MessageID, answered)
			}
		case p.method == http.MethodPost && strings.HasPrefix(path, "emails") &&
			(strings.HasSuffix(path, "DeliverIncomingEmail") || strings.HasSuffix(path, "DeliverPromoteEmail")):
			if ok && b.MessageID2 != "" {
				m.complete(b.MessageID2, answered)
			}
		case p.method == http.MethodPatch && ok && done:
			if ref, isRef := strings.CutPrefix(path, "$"); isRef {
				m.complete(created[keyOf(part{item: p.item, contentID: ref})], answered)
			} else if id, isEmail := strings.CutPrefix(path, "emails("); isEmail {
				m.complete(m.ids[strings.ToLower(strings.TrimSuffix(id, ")"))], answered)
			}
		}
	}
}

// complete keeps the first completion time of an email.
func (m *meter) complete(messageID string, at int64) {
	if messageID == "" {
		return
	}
	if _, seen := m.completed[messageID]; !seen {
		m.completed[messageID] = at
	}
}

// keyOf names a part within its $batch for "$n" references.
func keyOf(p part) string { return strconv.Itoa(p.item) + "/" + p.contentID }

// entityID reads the id from an OData-EntityId such as
// "http://host/api/data/v9.2/emails(<guid>)".
func entityID(v string) string {
	_, id, ok := strings.Cut(v, "(")
	if !ok {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(id, ")"))
}
