package functions

import (
	"net/http"
	"strings"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/odata"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// Bound operations.

// Bound runs <set>/<op> and <set>(<id>)/<op>: the bound functions and
// actions; id is "" for the collection.
func (c *Call) Bound(ent *records.Entity, id string, seg odata.Segment) (wire.Object, error) {
	name, namespaced := stripNamespace(seg.Name)
	if !namespaced {
		if boundOperations[seg.Name] {
			return nil, wire.BadRequest("Request message has unresolved parameters. Bound operations need the namespace: %s%s.", crmNamespace, seg.Name)
		}
		return nil, wire.NotFoundSegment(seg.String())
	}
	args, err := odata.ParseFuncArgs(seg.Args, c.Aliases)
	if err != nil {
		return nil, err
	}
	key := ent.Set + "/" + name
	if id != "" {
		key = ent.Set + "(id)/" + name
	}
	method := http.MethodGet
	switch key {
	case "emails/DeliverIncomingEmail", "emails(id)/DeliverPromoteEmail", "emails(id)/SendEmail":
		method = http.MethodPost
	case "systemusers(id)/RetrieveUserPrivilegeByPrivilegeName", "systemusers(id)/RetrieveUserPrivileges",
		"systemusers(id)/RetrievePrincipalAccess", "systemusers(id)/RetrievePrincipalAttributePrivileges":
	default:
		return nil, wire.NotFoundSegment(seg.String())
	}
	if c.Method != method {
		return nil, wire.MethodNotAllowed(c.Method, "'"+seg.Name+"'", method)
	}
	switch name {
	case "DeliverIncomingEmail":
		return c.deliverEmail(ent, "")
	case "DeliverPromoteEmail":
		return c.deliverEmail(ent, id)
	case "SendEmail":
		return c.sendEmail(ent, id)
	case "RetrievePrincipalAccess":
		return c.retrievePrincipalAccess(id, args)
	case "RetrievePrincipalAttributePrivileges":
		return c.retrievePrincipalAttributePrivileges(id, args)
	}
	return c.retrievePrivileges(id, name, args)
}

func (c *Call) retrievePrivileges(userID, fn string, args map[string]any) (wire.Object, error) {
	u, err := store.UserByID(c.Ctx, c.Store.Q(c.Ctx), userID)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, wire.RecordNotFound("systemuser", userID)
	}
	want := ""
	if fn == "RetrieveUserPrivilegeByPrivilegeName" {
		if err := allowParams(fn, args, "PrivilegeName", "ExcludeTeamBasic"); err != nil {
			return nil, err
		}
		if want, err = stringArg(fn, args, "PrivilegeName"); err != nil {
			return nil, err
		}
		if want == "" {
			return nil, wire.BadRequest("The function %s requires the parameter 'PrivilegeName'.", fn)
		}
	} else if len(args) > 0 {
		return nil, wire.BadRequest("The function %s takes no parameters.", fn)
	}
	list := []wire.Object{}
	for _, p := range records.RolePrivileges(u.Role) {
		if want != "" && !strings.EqualFold(p.Name, want) {
			continue
		}
		list = append(list, wire.Object{
			{"Depth", p.Depth}, {"PrivilegeId", records.PrivilegeID(p.Name)},
			{"BusinessUnitId", c.Org.BusinessUnitID}, {"PrivilegeName", p.Name},
		})
	}
	return wire.Object{
		{"@odata.context", c.Base + "$metadata#Microsoft.Dynamics.CRM." + fn + "Response"},
		{"RolePrivileges", list},
	}, nil
}

// retrievePrincipalAccess reports what the bound user may do with the
// Target record, following the same rules the server enforces.
func (c *Call) retrievePrincipalAccess(userID string, args map[string]any) (wire.Object, error) {
	const fn = "RetrievePrincipalAccess"
	if err := allowParams(fn, args, "Target"); err != nil {
		return nil, err
	}
	obj, ok := args["Target"].(map[string]any)
	if !ok {
		return nil, wire.BadRequest("The function %s requires the parameter 'Target', e.g. Target=@tid&@tid={'@odata.id':'emails(<guid>)'}.", fn)
	}
	id, _ := obj["@odata.id"].(string)
	if id == "" {
		return nil, wire.BadRequest("The Target of %s must hold '@odata.id', e.g. {'@odata.id':'emails(<guid>)'}.", fn)
	}
	u, err := store.UserByID(c.Ctx, c.Store.Q(c.Ctx), userID)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, wire.RecordNotFound("systemuser", userID)
	}
	ent, rec, err := c.ResolveBind(c.Store.Q(c.Ctx), id)
	if err != nil {
		return nil, err
	}
	rights := []string{"ReadAccess"}
	owner := ent.UserOwned && rec.Owner() == u.ID
	switch {
	case ent.ReadOnly:
	case owner:
		rights = append(rights, "WriteAccess", "AppendAccess", "AppendToAccess", "CreateAccess", "DeleteAccess", "ShareAccess", "AssignAccess")
	case ent.Logical == "userquery":
		rights = nil // another user's personal view is not theirs to read
	case !ent.Activity:
		rights = append(rights, "WriteAccess", "AppendAccess", "AppendToAccess")
	}
	return wire.Object{
		{"@odata.context", c.Base + "$metadata#Microsoft.Dynamics.CRM.RetrievePrincipalAccessResponse"},
		{"AccessRights", accessRights(rights)},
	}, nil
}

// accessRights writes AccessRights flags; no rights at all is "None".
func accessRights(rights []string) string {
	if len(rights) == 0 {
		return "None"
	}
	return strings.Join(rights, ", ")
}
