package localcrm

import (
	"context"
	"database/sql"
	"fmt"

	"crmsync/agent/crm/localcrm/idp"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// The public names of the parts, so that users of the server need only
// this package.

// StoreFile is the name of the store inside Options.DataDir.
const StoreFile = store.File

// The directory the local CRM signs users in to (see package idp).
const (
	// TenantID is the tenant's id, as Entra ID reports it in tid claims
	// and in the 401 challenge.
	TenantID = idp.TenantID
	// TenantDomain is the tenant's verified domain name.
	TenantDomain = idp.TenantDomain
	// DevClientID is Microsoft's development and prototyping client id
	// for Dataverse, registered with the redirect URI http://localhost.
	DevClientID = idp.DevClientID
	// AgentClientID is the client id the agent presents by default.
	AgentClientID = idp.AgentClientID
)

// Identity provider flavours (Options.Auth).
const (
	// AuthEntra makes the server answer as Microsoft Entra ID (the default).
	AuthEntra = idp.AuthEntra
	// AuthADFS makes the 401 challenge point to AD FS paths, as an
	// on-premises deployment with AD FS does.
	AuthADFS = idp.AuthADFS
)

// Defaults of the interactive sign-in flows.
const (
	// DefaultAuthCodeTTL is the lifetime of authorization codes; Entra
	// documents about ten minutes, and longer is refused.
	DefaultAuthCodeTTL = idp.DefaultAuthCodeTTL
	// DefaultDeviceCodeTTL is the lifetime of a device code (expires_in).
	DefaultDeviceCodeTTL = idp.DefaultDeviceCodeTTL
	// DefaultDeviceCodeInterval is the polling interval a device code
	// announces; faster polls get slow_down.
	DefaultDeviceCodeInterval = idp.DefaultDeviceCodeInterval
)

// Apps of Options.App: which optional Dynamics 365 tables an environment has.
const (
	// AppAll has the tables of both Sales and Customer Service (the default).
	AppAll = records.AppAll
	// AppSales adds the Sales tables opportunity and lead.
	AppSales = records.AppSales
	// AppService adds the Customer Service table incident (cases).
	AppService = records.AppService
	// AppNone is plain Dataverse: accounts, contacts, users, queues, emails.
	AppNone = records.AppNone
)

// Security roles. Salesperson holds prvSyncToOutlook; Sales Viewer is the
// same without it, for users who may use the CRM but not sync mail, and
// reads activities without creating, changing or sending them.
const (
	RoleSalesperson = store.RoleSalesperson
	RoleSalesViewer = store.RoleSalesViewer
	// RoleSystemAdministrator has Salesperson's privileges and, as in
	// Dataverse, full access to every secured column.
	RoleSystemAdministrator = store.RoleSystemAdministrator
)

// Sentinel errors returned by the Go API of the server.
var (
	// ErrUserExists is returned by AddUser when the email address is taken.
	ErrUserExists = idp.ErrUserExists
	// ErrNoUser is returned when a user named by email address does not exist.
	ErrNoUser = idp.ErrNoUser
)

// AddUser creates a user who can sign in, with a systemuser record and a
// mailbox (server-side synchronization). canSync
// picks the Salesperson role (with prvSyncToOutlook) or Sales Viewer
// (without). It returns the systemuserid.
func (s *Server) AddUser(email, password, fullname string, canSync bool) (string, error) {
	role := RoleSalesViewer
	if canSync {
		role = RoleSalesperson
	}
	ctx := context.Background()
	var id string
	err := s.st.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if id, err = s.idp.AddUser(ctx, tx, "", email, password, fullname, role); err != nil {
			return err
		}
		return s.ensureMailbox(ctx, tx, id)
	})
	return id, err
}

// SetUserRole gives a user a security role (RoleSalesperson,
// RoleSalesViewer or RoleSystemAdministrator), as an administrator does;
// it applies to the user's next request.
func (s *Server) SetUserRole(email, role string) error {
	switch role {
	case RoleSalesperson, RoleSalesViewer, RoleSystemAdministrator:
	default:
		return fmt.Errorf("localcrm: set role: unknown role %q", role)
	}
	id, err := s.UserID(email)
	if err != nil {
		return err
	}
	return store.SetUserRole(context.Background(), s.st.Q(context.Background()), id, role)
}

// UserID returns the systemuserid of the user with this email address.
func (s *Server) UserID(email string) (string, error) { return s.idp.UserID(email) }

// SetPassword changes a user's password, as an administrator would on the
// server. Like Entra ID, it revokes the user's refresh tokens; access
// tokens already issued stay valid until they expire.
func (s *Server) SetPassword(email, password string) error { return s.idp.SetPassword(email, password) }

// RevokeTokens ends every session of the user: access and refresh tokens
// of every sign-in flow stop working at once, so the next request gets
// 401, and authorization and device codes not yet redeemed are dropped.
func (s *Server) RevokeTokens(email string) error { return s.idp.RevokeTokens(email) }

// SetUserDisabled disables or enables a user. A disabled user cannot sign
// in, existing tokens stop working, and the user no longer matches
// addresses of incoming mail.
func (s *Server) SetUserDisabled(email string, disabled bool) error {
	return s.idp.SetUserDisabled(email, disabled)
}

// SetRequireMFA marks a user as having to use multi-factor authentication,
// or clears the mark. Tokens already issued stay valid, as with Entra ID.
func (s *Server) SetRequireMFA(email string, on bool) error { return s.idp.SetRequireMFA(email, on) }

// AttributeMetadataID returns the MetadataId the Web API reports for a
// column (or lookup) of a table: fixed per table and column.
func AttributeMetadataID(table, column string) string { return records.MetadataID(table, column) }
