package functions

import (
	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// objectTypeCodes are the entity type codes RetrieveMailboxTrackingFolders
// reports for a rule's regarding record (RegardingObjectTypeCode).
var objectTypeCodes = map[string]int{"account": 1, "contact": 2, "opportunity": 3, "lead": 4, "incident": 112}

// retrieveMailboxTrackingFolders lists the folder-level tracking rules of
// a mailbox the caller may read, oldest first, as the function of that
// name returns them (a MailboxTrackingFolderMapping per rule).
func (c *Call) retrieveMailboxTrackingFolders(args map[string]any) (wire.Object, error) {
	const fn = "RetrieveMailboxTrackingFolders"
	if err := allowParams(fn, args, "MailboxId"); err != nil {
		return nil, err
	}
	s, err := stringArg(fn, args, "MailboxId")
	if err != nil {
		return nil, err
	}
	id, ok := wire.ParseGUID(s)
	if !ok {
		return nil, wire.BadRequest("The parameter 'MailboxId' of %s must be the mailbox's id as a string, such as '00000000-0000-0000-0000-000000000000'.", fn)
	}
	q := c.Store.Q(c.Ctx)
	ent, _ := c.Cat.Logical("mailbox")
	mb, err := store.GetRecord(c.Ctx, q, ent.Set, id)
	if err != nil {
		return nil, err
	}
	if mb == nil {
		return nil, wire.RecordNotFound("mailbox", id)
	}
	if err := c.CheckAccess(q, ent, mb, "Read"); err != nil {
		return nil, err
	}
	rules, err := store.ListRecords(c.Ctx, q, "mailboxtrackingfolders")
	if err != nil {
		return nil, err
	}
	list := []wire.Object{}
	for _, r := range rules {
		if m := r.Lookups["mailboxid"]; m == nil || m.ID != id {
			continue
		}
		var regID, code any
		name := ""
		if reg := r.Lookups["regardingobjectid"]; reg != nil {
			regID, code = reg.ID, objectTypeCodes[reg.Table]
			if name, err = c.PrimaryNameOf(q, reg); err != nil {
				return nil, err
			}
		}
		onboarded, _ := r.Attrs["folderonboardingstatus"].(float64)
		list = append(list, wire.Object{
			{"ExchangeFolderId", r.Str("exchangefolderid")},
			{"ExchangeFolderName", r.Str("exchangefoldername")},
			{"RegardingObjectId", regID},
			{"RegardingObjectName", name},
			{"RegardingObjectTypeCode", code},
			{"IsFolderOnboarded", onboarded == 1},
		})
	}
	return wire.Object{
		{"@odata.context", c.Base + "$metadata#Microsoft.Dynamics.CRM.RetrieveMailboxTrackingFoldersResponse"},
		{"MailboxTrackingFolderMappings", list},
	}, nil
}
