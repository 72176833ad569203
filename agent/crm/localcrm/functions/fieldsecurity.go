package functions

import (
	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// retrievePrincipalAttributePrivileges answers
// systemusers(<id>)/Microsoft.Dynamics.CRM.RetrievePrincipalAttributePrivileges():
// "all the secured attribute privileges a user or team has through direct
// or indirect ... associations with the FieldSecurityProfile entity"
// (Microsoft's RetrievePrincipalAttributePrivileges function reference).
// Each AttributePrivilege carries AttributeId (the column's MetadataId)
// and CanCreate, CanRead, CanUpdate as 0 (Not Allowed) or 4 (Allowed)
// (the AttributePrivilege ComplexType; the values of [PAD]
// column-level-security.md). Columns the user has no access to at all are
// left out. The message needs prvReadUser (its privileges page), which
// every role here holds, so any user may ask about any user, as with
// RetrievePrincipalAccess.
func (c *Call) retrievePrincipalAttributePrivileges(userID string, args map[string]any) (wire.Object, error) {
	const fn = "RetrievePrincipalAttributePrivileges"
	if len(args) > 0 {
		return nil, wire.BadRequest("The function %s takes no parameters.", fn)
	}
	q := c.Store.Q(c.Ctx)
	u, err := store.UserByID(c.Ctx, q, userID)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, wire.RecordNotFound("systemuser", userID)
	}
	access, err := records.UserFieldAccess(c.Ctx, q, userID)
	if err != nil {
		return nil, err
	}
	level := func(ok bool) int {
		if ok {
			return records.FieldAllowed
		}
		return records.FieldNotAllowed
	}
	list := []wire.Object{}
	for _, col := range c.Cat.SecuredColumns() {
		p := access.Permission(col.Table, col.Column)
		if !p.CanCreate && !p.CanRead && !p.CanUpdate {
			continue
		}
		list = append(list, wire.Object{
			{"AttributeId", records.MetadataID(col.Table, col.Column)},
			{"CanCreate", level(p.CanCreate)}, {"CanRead", level(p.CanRead)}, {"CanUpdate", level(p.CanUpdate)},
		})
	}
	return wire.Object{
		{"@odata.context", c.Base + "$metadata#Microsoft.Dynamics.CRM." + fn + "Response"},
		{"AttributePrivileges", list},
	}, nil
}
