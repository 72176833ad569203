package localcrm

import (
	"context"
	"database/sql"
	"fmt"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// Email delivery methods of a mailbox (outgoingemaildeliverymethod,
// incomingemaildeliverymethod), as Microsoft's mailbox reference numbers
// them.
const (
	// DeliveryNone: the mailbox neither sends nor receives through the CRM.
	DeliveryNone = records.DeliveryNone
	// DeliveryOutlook ("Microsoft Dynamics 365 for Outlook"): a desktop
	// client on the user's computer carries the mail.
	DeliveryOutlook = records.DeliveryOutlook
	// DeliveryServerSideSync ("Server-Side Synchronization"): the CRM
	// talks to the mail server itself.
	DeliveryServerSideSync = records.DeliveryServerSideSync
	// DeliveryForwardMailbox is for incoming mail only.
	DeliveryForwardMailbox = records.DeliveryForwardMailbox
)

// MaxFolderRules is how many folder-level tracking rules one mailbox may have.
const MaxFolderRules = records.MaxFolderRules

// ensureMailboxes gives every user without one a mailbox, as Dataverse
// does; stores made before mailboxes existed get theirs here.
func (s *Server) ensureMailboxes(ctx context.Context) error {
	return s.st.Tx(ctx, func(tx *sql.Tx) error {
		users, err := store.ListRecords(ctx, tx, "systemusers")
		if err != nil {
			return err
		}
		for _, u := range users {
			if err := s.ensureMailbox(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// ensureMailbox gives the user the default synchronization filters
// (once), and creates the user's mailbox unless the user's
// defaultmailbox already names one, and links it. A demo user's mailbox
// gets its fixed id and the demo's delivery method; any other new mailbox
// uses server-side synchronization, the usual default online.
func (s *Server) ensureMailbox(ctx context.Context, tx *sql.Tx, userID string) error {
	user, err := store.GetRecord(ctx, tx, "systemusers", userID)
	if err != nil || user == nil {
		return err
	}
	// A user set up for synchronization gets the default filters with the
	// mailbox, as Dataverse initializes them then.
	if err := s.ensureSyncFilters(ctx, tx, userID); err != nil {
		return err
	}
	if ref := user.Lookups["defaultmailbox"]; ref != nil {
		mb, err := store.GetRecord(ctx, tx, "mailboxes", ref.ID)
		if err != nil || mb != nil {
			return err
		}
	}
	email := user.Str("internalemailaddress")
	id, delivery := wire.NewGUID(), DeliveryServerSideSync
	for _, d := range DemoUsers() {
		if d.Email == email && userID == DemoID("systemuser", email) {
			id, delivery = DemoID("mailbox", email), d.Delivery
		}
	}
	existing, err := store.GetRecord(ctx, tx, "mailboxes", id)
	if err != nil {
		return err
	}
	if existing == nil {
		mb := records.NewMailbox(id, userID, user.Str("fullname"), email, delivery, s.now())
		if err := store.InsertRecord(ctx, tx, mb); err != nil {
			return err
		}
	}
	user.Lookups["defaultmailbox"] = &store.Ref{Table: "mailbox", ID: id}
	return store.UpdateRecord(ctx, tx, user)
}

// MailboxID returns the id of the mailbox of the user with this email
// address.
func (s *Server) MailboxID(email string) (string, error) {
	ctx := context.Background()
	id, err := s.UserID(email)
	if err != nil {
		return "", err
	}
	user, err := store.GetRecord(ctx, s.st.Q(ctx), "systemusers", id)
	if err != nil {
		return "", err
	}
	if user == nil || user.Lookups["defaultmailbox"] == nil {
		return "", fmt.Errorf("localcrm: user %s has no mailbox", email)
	}
	return user.Lookups["defaultmailbox"].ID, nil
}

// SetMailboxDelivery sets how a user's mailbox sends (outgoing:
// DeliveryNone, DeliveryOutlook or DeliveryServerSideSync) and receives
// (incoming: the same or DeliveryForwardMailbox) email, as a CRM
// administrator does in the mailbox form. The Web API refuses these
// changes: this server has no administrator role there.
func (s *Server) SetMailboxDelivery(email string, outgoing, incoming int) error {
	if outgoing < DeliveryNone || outgoing > DeliveryServerSideSync {
		return fmt.Errorf("localcrm: set mailbox delivery: outgoing method %d is not 0, 1 or 2", outgoing)
	}
	if incoming < DeliveryNone || incoming > DeliveryForwardMailbox {
		return fmt.Errorf("localcrm: set mailbox delivery: incoming method %d is not 0, 1, 2 or 3", incoming)
	}
	id, err := s.MailboxID(email)
	if err != nil {
		return err
	}
	ctx := context.Background()
	return s.st.Tx(ctx, func(tx *sql.Tx) error {
		mb, err := store.GetRecord(ctx, tx, "mailboxes", id)
		if err != nil {
			return err
		}
		if mb == nil {
			return fmt.Errorf("localcrm: set mailbox delivery: the mailbox of %s is gone", email)
		}
		mb.Attrs["outgoingemaildeliverymethod"] = float64(outgoing)
		mb.Attrs["incomingemaildeliverymethod"] = float64(incoming)
		mb.ModifiedOn = s.now()
		return store.UpdateRecord(ctx, tx, mb)
	})
}
