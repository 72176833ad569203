package records

import (
	"crypto/sha1"
	"net/http"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// Privileges this server checks by name. Dataverse has no "prvSendEmail":
// the SendEmail message needs prvReadActivity, prvReadUser and
// prvWriteActivity, and BackgroundSendEmail prvReadActivity and
// prvWriteActivity (Microsoft's "SendEmail message privileges" and
// "BackgroundSendEmail message privileges" pages, and the
// BackgroundSendEmailRequest class's remarks). The email-specific
// privileges are prvApproveRejectEmailAddress and prvSendAsUser ("Email
// entity privileges"); prvSendAsUser is "Send Email as Another User" in
// the miscellaneous privileges of Power Platform's security reference.
const (
	PrvReadActivity  = "prvReadActivity"
	PrvWriteActivity = "prvWriteActivity"
	PrvReadUser      = "prvReadUser"
	PrvSendAsUser    = "prvSendAsUser"
)

// Privilege is one privilege of a security role and the depth it holds
// it at (Basic = user, Local, Deep, Global = organization).
type Privilege struct {
	Name  string
	Depth string
}

// RolePrivileges lists what each role holds. Salesperson follows the
// standard role for email tracking, and System Administrator holds the
// same and prvSendAsUser (an administrator holds every privilege in
// Dataverse; whether the standard Salesperson role has prvSendAsUser is
// UNCONFIRMED, and here it does not, so a salesperson sends only as
// themselves). Sales Viewer reads activities but does not create, change,
// delete or send them, and lacks the sync and offline privileges.
func RolePrivileges(role string) []Privilege {
	common := []Privilege{
		{PrvReadActivity, "Global"}, {"prvAppendToActivity", "Global"},
		{"prvReadContact", "Global"}, {"prvCreateContact", "Basic"}, {"prvWriteContact", "Global"}, {"prvAppendToContact", "Global"},
		{"prvReadAccount", "Global"}, {"prvCreateAccount", "Basic"}, {"prvWriteAccount", "Global"}, {"prvAppendToAccount", "Global"},
		{"prvReadOpportunity", "Global"}, {"prvAppendToOpportunity", "Global"},
		{"prvReadIncident", "Global"}, {"prvAppendToIncident", "Global"},
		{"prvReadLead", "Global"}, {PrvReadUser, "Global"}, {"prvUseOfficeApps", "Global"},
		// Notes (annotation): read by everyone, written by their owner.
		{"prvReadNote", "Global"}, {"prvCreateNote", "Basic"}, {"prvWriteNote", "Basic"},
		{"prvDeleteNote", "Basic"}, {"prvAppendNote", "Basic"},
	}
	writer := []Privilege{
		{"prvSyncToOutlook", "Global"}, {"prvGoOffline", "Global"},
		{"prvCreateActivity", "Basic"}, {PrvWriteActivity, "Basic"},
		{"prvDeleteActivity", "Basic"}, {"prvAppendActivity", "Basic"},
	}
	switch role {
	case store.RoleSystemAdministrator:
		return append(append(writer, Privilege{PrvSendAsUser, "Global"}), common...)
	case store.RoleSalesperson:
		return append(writer, common...)
	}
	return common
}

// HasPrivilege reports whether role holds the named privilege.
func HasPrivilege(role, name string) bool {
	for _, p := range RolePrivileges(role) {
		if p.Name == name {
			return true
		}
	}
	return false
}

// PrivilegeID is a fixed id per privilege name, the same in every store,
// as privilege ids are in the CRM.
func PrivilegeID(name string) string {
	h := sha1.Sum([]byte("crmsync privilege " + name))
	var b [16]byte
	copy(b[:], h[:16])
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return wire.FormatGUID(b)
}

// RequirePrivileges refuses the caller when their role lacks one of
// names, with Dataverse's PrivilegeDenied code and the missing privilege
// named; what says what the privilege was needed for. A session without
// a role (the server's own work, such as the demo seed) passes.
func (c *Session) RequirePrivileges(what string, names ...string) error {
	if c.Role == "" {
		return nil
	}
	for _, n := range names {
		if !HasPrivilege(c.Role, n) {
			return wire.Errf(http.StatusForbidden, wire.CodePrivilege,
				"Principal user (Id=%s, type=8) is missing %s privilege (Id=%s), which %s needs; the %s role does not include it.",
				c.UserID, n, PrivilegeID(n), what, c.Role)
		}
	}
	return nil
}
