// Package functions implements the Dataverse messages the local CRM's Web
// API offers as functions and actions: WhoAmI, CheckIncomingEmail,
// CheckPromoteEmail and RetrieveMailboxTrackingFolders (unbound
// functions), DeliverIncomingEmail, DeliverPromoteEmail and SendEmail
// (actions bound to emails), BackgroundSendEmail (an unbound action), and
// the privilege checks
// bound to systemusers (RetrieveUserPrivilegeByPrivilegeName,
// RetrieveUserPrivileges, RetrievePrincipalAccess). Each returns the body
// of its 200 answer or an OData error.
package functions

import (
	"strings"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// Org holds the organization-wide ids, as WhoAmI reports them.
type Org struct {
	OrganizationID   string
	BusinessUnitID   string // the single business unit every user belongs to
	BusinessUnitName string
}

// Call is one function or action call: the caller's record session and
// what the answer needs.
type Call struct {
	records.Session
	Store  *store.Store
	Base   string // the absolute Web API root, ending in "/"
	Org    Org
	Method string // the HTTP method, which decides function (GET) or action (POST)
	// ReadBody reads the JSON body of an action.
	ReadBody func() (map[string]any, error)
	// Aliases are the request's parameter aliases (@name=value).
	Aliases map[string]string
	// Represent writes a record as the Web API answers it, with the
	// properties sel (all when nil), for actions that return records.
	Represent func(q store.Queryer, ent *records.Entity, rec *store.Record, sel []string) (wire.Object, error)
}

// IsUnbound reports whether name is an unbound function this server has.
func IsUnbound(name string) bool {
	switch name {
	case "WhoAmI", "CheckIncomingEmail", "CheckPromoteEmail", "RetrieveMailboxTrackingFolders":
		return true
	}
	return false
}

// IsUnboundAction reports whether name is an unbound action this server
// has: called with POST and a JSON body, without the namespace.
func IsUnboundAction(name string) bool {
	return name == "BackgroundSendEmail"
}

// boundOperations are the operations that are only valid with the
// Microsoft.Dynamics.CRM namespace when bound; used to give Dataverse's
// message when it is missing.
var boundOperations = map[string]bool{
	"RetrieveUserPrivilegeByPrivilegeName": true, "RetrieveUserPrivileges": true,
	"RetrievePrincipalAccess": true, "DeliverIncomingEmail": true, "DeliverPromoteEmail": true,
	"RetrievePrincipalAttributePrivileges": true, "SendEmail": true,
}

const crmNamespace = "Microsoft.Dynamics.CRM."

func stripNamespace(name string) (string, bool) {
	if strings.HasPrefix(name, crmNamespace) {
		return name[len(crmNamespace):], true
	}
	return name, false
}
