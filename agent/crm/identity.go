package crm

import (
	"context"
	"strings"
)

// Identity is who the CRM says the signed-in user is.
type Identity struct {
	UserID         string
	BusinessUnitID string
	OrganizationID string
}

// PrivSyncToOutlook is the privilege a user needs to synchronise mail from
// a desktop client.
const PrivSyncToOutlook = "prvSyncToOutlook"

// WhoAmI asks the CRM who the token belongs to. It is also the agent's
// connection probe: cheap, and it proves DNS, TLS, token and API at once.
func (c *HTTPClient) WhoAmI(ctx context.Context) (Identity, error) {
	const op = "WhoAmI"
	resp, err := c.do(ctx, request{op: op, method: "GET", path: "WhoAmI()", idempotent: true})
	if err != nil {
		return Identity{}, err
	}
	var r struct {
		UserID         string `json:"UserId"`
		BusinessUnitID string `json:"BusinessUnitId"`
		OrganizationID string `json:"OrganizationId"`
	}
	if err := decode(op, resp, &r); err != nil {
		return Identity{}, err
	}
	if !IsGUID(r.UserID) {
		return Identity{}, &Error{Op: op, Kind: KindBadResponse, Status: resp.status, Message: "the answer has no valid UserId"}
	}
	return Identity{UserID: strings.ToLower(r.UserID), BusinessUnitID: strings.ToLower(r.BusinessUnitID),
		OrganizationID: strings.ToLower(r.OrganizationID)}, nil
}

// HasPrivilege reports whether the user's roles grant the named privilege.
func (c *HTTPClient) HasPrivilege(ctx context.Context, userID, privilege string) (bool, error) {
	const op = "check privilege"
	if err := checkGUID(op, "user ID", userID); err != nil {
		return false, err
	}
	path := "systemusers(" + userID + ")/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName(PrivilegeName=@p)" +
		query("@p", quote(privilege))
	resp, err := c.do(ctx, request{op: op, method: "GET", path: path, idempotent: true})
	if err != nil {
		return false, err
	}
	var r struct {
		RolePrivileges *[]struct {
			PrivilegeName string `json:"PrivilegeName"`
		} `json:"RolePrivileges"`
	}
	if err := decode(op, resp, &r); err != nil {
		return false, err
	}
	if r.RolePrivileges == nil {
		return false, &Error{Op: op, Kind: KindBadResponse, Status: resp.status, Message: "the answer has no RolePrivileges"}
	}
	for _, p := range *r.RolePrivileges {
		if strings.EqualFold(p.PrivilegeName, privilege) {
			return true, nil
		}
	}
	return false, nil
}

// CanSync reports whether the user may synchronise mail (prvSyncToOutlook).
func (c *HTTPClient) CanSync(ctx context.Context, userID string) (bool, error) {
	return c.HasPrivilege(ctx, userID, PrivSyncToOutlook)
}

// UserName returns a system user's display name, for telling the user whose
// copy of an activity it is. It is fetched live and never cached.
func (c *HTTPClient) UserName(ctx context.Context, userID string) (string, error) {
	const op = "read user name"
	if err := checkGUID(op, "user ID", userID); err != nil {
		return "", err
	}
	resp, err := c.do(ctx, request{op: op, method: "GET", idempotent: true,
		path: "systemusers(" + userID + ")" + query("$select", "fullname")})
	if err != nil {
		return "", err
	}
	var r struct {
		FullName string `json:"fullname"`
	}
	if err := decode(op, resp, &r); err != nil {
		return "", err
	}
	return r.FullName, nil
}
