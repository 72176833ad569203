package records

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"crmsync/agent/crm"
	"crmsync/agent/dav"
)

// maxLeadLookups bounds the lead lookups one tracked event costs.
const maxLeadLookups = 20

// partySets names the entity set a party of each table binds to.
var partySets = map[string]string{"contact": "contacts", "account": "accounts", "lead": "leads", "systemuser": "systemusers"}

// track creates the CRM record of an item the user marked "Track in CRM"
// and links the two. For an event the decision needs only its organizer's
// and attendees' addresses: the event is tracked when one of them is a
// CRM contact, account or lead, and nothing else of it leaves the device
// before that.
func (s *Syncer) track(ctx context.Context, pol *Policy, coll dav.Collection, j *job, rep *Report) error {
	it, err := j.sp.decode(j.obj.Data)
	if err != nil {
		return nil
	}
	if it.UID == "" {
		rep.notice("An item marked %q in your %s has no UID, so it cannot be tracked; save it again in your calendar app.", "Track in CRM", where(j.sp))
		return nil
	}
	hh := hex.EncodeToString(s.o.Store.HashHref(j.href))
	var parties []map[string]any
	if j.sp.kind == Appointments {
		addrs := attendeeAddrs(it.Values)
		resolved, err := s.c.ResolveParties(ctx, addrs)
		if err != nil {
			return fmt.Errorf("records: look up the attendees of an event: %w", err)
		}
		known, lookups := false, 0
		parties = append(parties, map[string]any{"participationtypemask": maskOrganizer,
			"partyid_systemuser@odata.bind": "/systemusers(" + s.o.UserID + ")"})
		for i, p := range resolved {
			if !p.Resolved() && p.Address != "" && lookups < maxLeadLookups {
				// Address resolution finds users, contacts and accounts;
				// a lead is looked up on its own.
				lookups++
				lead, err := s.c.Person(ctx, p.Address)
				if err != nil {
					return fmt.Errorf("records: look up an attendee of an event: %w", err)
				}
				if lead != nil && lead.Ref.Entity == "lead" {
					p = crm.Party{Address: p.Address, Entity: "lead", ID: lead.Ref.ID}
				}
			}
			if p.Resolved() && p.Entity != "systemuser" {
				known = true
			}
			if strings.EqualFold(p.ID, s.o.UserID) {
				continue
			}
			mask := maskRequired
			if isOptional(it.Values["OptionalAttendees"], addrs[i]) {
				mask = maskOptional
			}
			if isOrganizer(it.Values["Organizer"], addrs[i]) {
				continue
			}
			pm := map[string]any{"participationtypemask": mask}
			if set, ok := partySets[p.Entity]; ok && p.Resolved() {
				pm["partyid_"+p.Entity+"@odata.bind"] = "/" + set + "(" + p.ID + ")"
			} else {
				pm["addressused"] = p.Address
			}
			parties = append(parties, pm)
		}
		if !known {
			if !s.nagged[hh] {
				s.nagged[hh] = true
				rep.notice("An event marked %q was not tracked: none of its attendees is a contact, account or lead in the CRM.", "Track in CRM")
			}
			return nil
		}
	}
	var write []field
	for _, f := range pol.fields[j.sp.kind] {
		if f.toCRM {
			write = append(write, f)
		}
	}
	body, err := crmBody(j.sp, write, it.Values)
	if err != nil {
		rep.notice("An item marked %q could not be tracked: %v", "Track in CRM", err)
		return nil
	}
	id := recordID(s.o.UserID, it.UID)
	body[j.sp.key] = id
	if j.sp.kind == Appointments {
		body["globalobjectid"] = it.UID
		body["appointment_activity_parties"] = parties
	}
	if j.sp.kind == Contacts && body["lastname"] == nil {
		// Dataverse needs a last name or a first name to file a contact;
		// a card with only a display name gives it as the last name.
		if fn := it.Values["FullName"]; fn != "" && body["firstname"] == nil {
			body["lastname"] = fn
		}
	}
	_, version, err := s.c.CreateRow(ctx, j.sp.set, j.sp.key, body)
	if errors.Is(err, crm.ErrConflict) {
		// Created by a pass cut short before it linked the item.
		rows, rerr := s.c.Rows(ctx, j.sp.set, j.sp.key, []string{id}, []string{j.sp.key, "versionnumber"}, "")
		if rerr != nil || len(rows) == 0 {
			return fmt.Errorf("records: track an item: %w", errors.Join(err, rerr))
		}
		version = rowVersion(rows[0])
	} else if err != nil {
		rep.notice("An item marked %q was refused by the CRM: %s", "Track in CRM", crm.UserMessage(err))
		return fmt.Errorf("records: track an item: %w", err)
	} else {
		rep.Kinds[j.sp.kind].ToCRM.Created++
	}
	// Write the record's ID into the item, so the link survives a
	// reinstall.
	data, err := j.sp.encode(j.obj.Data, it.UID, id, nil, nil)
	if err != nil {
		return fmt.Errorf("records: link a tracked item: %w", err)
	}
	etag, err := s.o.DAV.Put(ctx, j.href, data, coll.Kind, j.etag)
	if errors.Is(err, dav.ErrPrecondition) {
		return nil // edited meanwhile: the next pass finds it by its UID
	}
	if err != nil {
		return fmt.Errorf("records: link a tracked item: %w", err)
	}
	j.id = id
	agreed := it.Values
	return s.save(ctx, pol, j, j.href, etag, version, agreed)
}

// isOptional reports whether addr is among an event's optional attendees.
func isOptional(lines, addr string) bool { return hasAddr(lines, addr) }

// isOrganizer reports whether addr is the event's organizer.
func isOrganizer(lines, addr string) bool { return hasAddr(lines, addr) }

func hasAddr(lines, addr string) bool {
	for _, l := range strings.Split(lines, "\n") {
		a, _, _ := strings.Cut(l, "\t")
		if strings.EqualFold(strings.TrimSpace(a), addr) {
			return true
		}
	}
	return false
}
