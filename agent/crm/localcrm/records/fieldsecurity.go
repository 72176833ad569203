package records

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// Field security. "When a column is secured, only people who have the
// system administrator security role can read or set the value"; others
// get access through field security profiles, whose field permissions
// grant create, read and update per column ([PAD]
// column-level-security.md). Profiles are server data here (the Go API
// and the seed write them), not tables of the Web API.

// Field permission values of the field_security_permission_type choice:
// "0 Not Allowed, 4 Allowed" ([PAD] column-level-security.md), as
// RetrievePrincipalAttributePrivileges reports them.
const (
	FieldNotAllowed = 0
	FieldAllowed    = 4
)

// Error codes of refused secured-column writes ([PAD]
// reference/web-service-error-codes.md).
const (
	codeAttributeCreateMissing = "0x8004F502" // AttributePrivilegeCreateIsMissing
	codeAttributeUpdateMissing = "0x8004F507" // AttributePermissionUpdateIsMissingDuringUpdate
)

// FieldPermission grants access to one secured column of a table.
type FieldPermission struct {
	Table     string `json:"table"`
	Column    string `json:"column"`
	CanRead   bool   `json:"read"`
	CanUpdate bool   `json:"update"`
	CanCreate bool   `json:"create"`
}

// FieldSecurityProfile grants its permissions to its users.
type FieldSecurityProfile struct {
	Name        string            `json:"name"`
	Users       []string          `json:"users"` // systemuserids
	Permissions []FieldPermission `json:"permissions"`
}

// metaFieldProfiles is the meta key the profiles are kept under, as JSON.
const metaFieldProfiles = "fieldsecurityprofiles"

// LoadFieldProfiles returns the field security profiles, by name.
func LoadFieldProfiles(ctx context.Context, q store.Queryer) ([]FieldSecurityProfile, error) {
	raw, err := store.GetMeta(ctx, q, metaFieldProfiles)
	if err != nil || raw == "" {
		return nil, err
	}
	var out []FieldSecurityProfile
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, fmt.Errorf("localcrm: decode field security profiles: %w", err)
	}
	return out, nil
}

// PutFieldProfile creates or replaces the profile of that name.
func PutFieldProfile(ctx context.Context, q store.Queryer, p FieldSecurityProfile) error {
	list, err := LoadFieldProfiles(ctx, q)
	if err != nil {
		return err
	}
	list = slices.DeleteFunc(list, func(x FieldSecurityProfile) bool { return x.Name == p.Name })
	list = append(list, p)
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	b, err := json.Marshal(list)
	if err != nil {
		return fmt.Errorf("localcrm: encode field security profiles: %w", err)
	}
	return store.SetMeta(ctx, q, metaFieldProfiles, string(b))
}

// FieldAccess is what one user may do with the secured columns.
type FieldAccess struct {
	admin bool
	perms map[string]FieldPermission // "table.column" -> the union of the user's grants
}

// UserFieldAccess works out a user's access: everything for a system
// administrator, else the union of the profiles the user is in.
func UserFieldAccess(ctx context.Context, q store.Queryer, userID string) (*FieldAccess, error) {
	a := &FieldAccess{perms: map[string]FieldPermission{}}
	u, err := store.UserByID(ctx, q, userID)
	if err != nil {
		return nil, err
	}
	if u != nil && u.Role == store.RoleSystemAdministrator {
		a.admin = true
		return a, nil
	}
	profiles, err := LoadFieldProfiles(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, p := range profiles {
		if !slices.Contains(p.Users, userID) {
			continue
		}
		for _, fp := range p.Permissions {
			k := fp.Table + "." + fp.Column
			cur := a.perms[k]
			cur.Table, cur.Column = fp.Table, fp.Column
			cur.CanRead = cur.CanRead || fp.CanRead
			cur.CanUpdate = cur.CanUpdate || fp.CanUpdate
			cur.CanCreate = cur.CanCreate || fp.CanCreate
			a.perms[k] = cur
		}
	}
	return a, nil
}

// Permission returns the user's access to a secured column.
func (a *FieldAccess) Permission(table, column string) FieldPermission {
	if a.admin {
		return FieldPermission{Table: table, Column: column, CanRead: true, CanUpdate: true, CanCreate: true}
	}
	return a.perms[table+"."+column]
}

// Mask nulls the secured columns the user may not read in a record's
// view. Dataverse returns no value for them; since the query language
// evaluates the same view, a filter or order on such a column sees null
// and so cannot disclose the value (whether Dataverse refuses such a
// filter instead is UNCONFIRMED).
func (a *FieldAccess) Mask(ent *Entity, view map[string]any) {
	for _, c := range ent.Columns {
		if c.Secured && !a.Permission(ent.Logical, c.Name).CanRead {
			view[c.Name] = nil
		}
	}
}

// FieldAccess returns the caller's field access, read once per request.
func (c *Session) FieldAccess(q store.Queryer) (*FieldAccess, error) {
	if c.fields != nil {
		return c.fields, nil
	}
	a, err := UserFieldAccess(c.Ctx, q, c.UserID)
	if err != nil {
		return nil, err
	}
	c.fields = a
	return a, nil
}

// ReadView is View with the secured columns the caller may not read
// nulled: every read of a record goes through it.
func (c *Session) ReadView(q store.Queryer, ent *Entity, rec *store.Record) (map[string]any, error) {
	v := View(ent, rec)
	a, err := c.FieldAccess(q)
	if err != nil {
		return nil, err
	}
	a.Mask(ent, v)
	return v, nil
}

// CheckSecuredWrite refuses a change that sets a secured column the
// caller may not create (create) or update: the whole request fails and
// nothing of it is applied. Dataverse's messages and codes are
// AttributePrivilegeCreateIsMissing and
// AttributePermissionUpdateIsMissingDuringUpdate ([PAD]
// reference/web-service-error-codes.md); the 403 status is UNCONFIRMED.
func (c *Session) CheckSecuredWrite(q store.Queryer, ent *Entity, ch *Change, create bool) error {
	var names []string
	for k, v := range ch.Attrs {
		col, ok := ent.Column(k)
		if !ok || !col.Secured || (create && v == nil) {
			continue // a create that leaves a column empty sets nothing
		}
		names = append(names, k)
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	a, err := c.FieldAccess(q)
	if err != nil {
		return err
	}
	for _, n := range names {
		p := a.Permission(ent.Logical, n)
		if create && !p.CanCreate {
			return wire.Errf(http.StatusForbidden, codeAttributeCreateMissing,
				"The user does not have create permissions to a secured field. The requested operation could not be completed. (Field '%s' of %s.)", n, ent.Logical)
		}
		if !create && !p.CanUpdate {
			return wire.Errf(http.StatusForbidden, codeAttributeUpdateMissing,
				"The user doesn't have AttributePrivilegeUpdate and not granted shared access for a secured attribute during update operation (field '%s' of %s).", n, ent.Logical)
		}
	}
	return nil
}

// MetadataID is the fixed MetadataId of a column (or lookup attribute) of
// a table: a name-based GUID, the same in every store, as a column's id is
// stable in Dataverse.
func MetadataID(table, column string) string {
	h := sha1.Sum([]byte("crmsync attribute " + table + "." + column))
	var b [16]byte
	copy(b[:], h[:16])
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return wire.FormatGUID(b)
}

// SecuredColumns lists the secured columns of every table, in table and
// column order.
func (cat *Catalog) SecuredColumns() []FieldPermission {
	var out []FieldPermission
	for _, s := range cat.Sets() {
		e := cat.bySet[s]
		for _, c := range e.Columns {
			if c.Secured {
				out = append(out, FieldPermission{Table: e.Logical, Column: c.Name})
			}
		}
	}
	return out
}
