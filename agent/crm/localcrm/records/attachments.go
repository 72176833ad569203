package records

import (
	"database/sql"
	"encoding/base64"
	"net/http"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// MaxUploadFileSize is the largest attachment or note file, in characters
// of its Base64 text: Dataverse's Organization.MaxUploadFileSize default,
// "The default size is 5 MB (5242880 bytes)", and "The maximum upload
// file size limit applies to the size of the file in Base64 encoding"
// ([PAD] attachment-annotation-files.md, "File size limits").
const MaxUploadFileSize = 5242880

// CodeAttachmentTooBig is Dataverse's error for a file over
// MaxUploadFileSize: unManagedidsattachmentinvalidfilesize, 0x80044a02,
// "Attachment file size is too big." (the same page). The HTTP status
// that goes with it is UNCONFIRMED; this server answers 400.
const CodeAttachmentTooBig = "0x80044a02"

// activityPointer stands for the activitypointer entity set, which binds
// name any activity ("/activitypointers(<id>)", as the objectid of an
// attachment); it has no records of its own here.
var activityPointer = &Entity{Logical: "activitypointer", Set: "activitypointers"}

// activitySets are the entity sets an activitypointer id is looked up in.
var activitySets = []string{"emails", "appointments", "tasks"}

// fileTables returns the attachment and note tables of an environment of
// app: activitymimeattachment (the files of an email, [PAD]
// reference/entities/activitymimeattachment.md) and annotation (notes,
// [PAD] reference/entities/annotation.md).
func fileTables(app string) []*Entity {
	// objectid of an attachment: "Targets activitypointer, template". The
	// navigation properties are objectid_activitypointer
	// (activity_pointer_activity_mime_attachment) and one per activity,
	// objectid_email (email_activity_mime_attachment), objectid_appointment;
	// Microsoft's Web API upload example binds objectid_email with
	// objecttypecode "email". Email templates are not a table here.
	attachmentObject := &Lookup{Attr: "objectid", Targets: []string{"email", "appointment", "task"},
		Navs: map[string]string{"objectid_activitypointer": "", "objectid_email": "email",
			"objectid_appointment": "appointment", "objectid_task": "task"}}
	// objectid of a note: one navigation property per target,
	// objectid_<table> (Email_Annotation: objectid_email, and so on).
	noteObject := &Lookup{Attr: "objectid", Navs: map[string]string{}}
	for _, t := range []string{"email", "appointment", "task", "account", "contact", "lead", "opportunity", "incident"} {
		if appHas(app, tableApps[t]) {
			noteObject.Targets = append(noteObject.Targets, t)
			noteObject.Navs["objectid_"+t] = t
		}
	}
	return []*Entity{
		{
			// OwnershipType None: the attachment belongs to its activity,
			// whose owner is its read-only ownerid. The reference lists no
			// createdon or modifiedon; filesize is read-only.
			Logical: "activitymimeattachment", Set: "activitymimeattachments", Key: "activitymimeattachmentid",
			PrimaryName: "filename",
			Columns: []Column{
				{Name: "activitymimeattachmentid", Type: TGUID},
				str("filename", 255), str("mimetype", 256), str("subject", 2000),
				memo("body", 1073741823),
				ro(Column{Name: "filesize", Type: TInt}),
				// EntityName: the logical name of the objectid's table.
				str("objecttypecode", 64),
				ro(Column{Name: "versionnumber", Type: TBigInt}),
			},
			Lookups: []*Lookup{attachmentObject,
				{Attr: "ownerid", Targets: []string{"systemuser"}, ReadOnly: true, Navs: map[string]string{}}},
			readOnlyNames: map[string]bool{"ownerid": true, "owningbusinessunit": true, "owninguser": true,
				"activitysubject": true, "attachmentnumber": true},
		},
		{
			Logical: "annotation", Set: "annotations", Key: "annotationid", PrimaryName: "subject", UserOwned: true,
			Columns: []Column{
				{Name: "annotationid", Type: TGUID},
				str("subject", 500), memo("notetext", 100000),
				str("filename", 255), str("mimetype", 256), memo("documentbody", 1073741823),
				{Name: "isdocument", Type: TBool},
				ro(Column{Name: "filesize", Type: TInt}),
				str("objecttypecode", 64),
				ro(Column{Name: "createdon", Type: TDateTime}),
				ro(Column{Name: "modifiedon", Type: TDateTime}),
				ro(Column{Name: "versionnumber", Type: TBigInt}),
			},
			Lookups: append([]*Lookup{noteObject}, ownerLookups("annotation")...),
			readOnlyNames: map[string]bool{"owningbusinessunit": true, "owninguser": true, "owningteam": true,
				"isprivate": true, "filepointer": true},
		},
	}
}

// fileBody is the Base64 file column of an attachment (body) or a note
// (documentbody); "" for other tables.
func fileBody(ent *Entity) string {
	switch ent.Logical {
	case "activitymimeattachment":
		return "body"
	case "annotation":
		return "documentbody"
	}
	return ""
}

// CheckFileRecord checks an attachment or note about to be stored by a
// create (prevObject "") or an update, and fills its derived columns:
// objecttypecode from objectid (a given one must match), filesize (the
// decoded size of the Base64 file, refused past MaxUploadFileSize), a
// note's isdocument, and an attachment's ownerid (its activity's owner).
// An attachment needs its activity, which must be the caller's and open,
// and stays with it. Other tables pass.
func (c *Session) CheckFileRecord(q store.Queryer, ent *Entity, rec *store.Record, prevObject string) error {
	col := fileBody(ent)
	if col == "" {
		return nil
	}
	obj := rec.Lookups["objectid"]
	if obj == nil && ent.Logical == "activitymimeattachment" {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation,
			"An attachment needs the activity it belongs to: send \"objectid_email@odata.bind\": \"/emails(<guid>)\" (or objectid_activitypointer) and \"objecttypecode\": \"email\".")
	}
	if obj != nil {
		switch t := rec.Str("objecttypecode"); {
		case t == "":
			rec.Attrs["objecttypecode"] = obj.Table
		case t != obj.Table:
			return wire.Errf(http.StatusBadRequest, wire.CodeValidation,
				"The objecttypecode '%s' does not match the record objectid points at, which is a%s %s.", wire.Truncate(t, 64), article(obj.Table), obj.Table)
		}
	} else if rec.Str("objecttypecode") != "" {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation,
			"objecttypecode is set, but the note has no objectid; bind the record with objectid_<table>@odata.bind.")
	}
	if ent.Logical == "activitymimeattachment" {
		if prevObject != "" && prevObject != obj.ID {
			return wire.Errf(http.StatusBadRequest, wire.CodeValidation,
				"An attachment stays with its activity (Id=%s); delete it and attach the file to the other activity instead.", prevObject)
		}
		parent, err := c.attachmentParent(q, rec, "Write")
		if err != nil {
			return err
		}
		rec.Lookups["ownerid"] = &store.Ref{Table: "systemuser", ID: parent.Owner()}
	}
	body := rec.Str(col)
	if len(body) > MaxUploadFileSize {
		return wire.Errf(http.StatusBadRequest, CodeAttachmentTooBig,
			"Attachment file size is too big. The %s of a%s %s may hold at most %d characters of Base64 (the organization's maximum upload file size), and this one has %d.",
			col, article(ent.Logical), ent.Logical, MaxUploadFileSize, len(body))
	}
	data, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return wire.BadPayload("The %s of a%s %s must be the file's content in Base64 (RFC 4648, with padding): %v.", col, article(ent.Logical), ent.Logical, err)
	}
	rec.Attrs["filesize"] = float64(len(data))
	if ent.Logical == "annotation" {
		rec.Attrs["isdocument"] = body != ""
	}
	return nil
}

// attachmentParent reads the activity an attachment belongs to and
// checks that the caller may change its attachments (verb Write or
// Delete): the activity's owner, while it is open. Adding or removing an
// attachment changes the activity, which is read-only once completed
// (Microsoft's email reference; the depth of the privilege is the
// activity's, UNCONFIRMED for attachments).
func (c *Session) attachmentParent(q store.Queryer, rec *store.Record, verb string) (*store.Record, error) {
	obj := rec.Lookups["objectid"]
	if obj == nil {
		return nil, wire.Errf(http.StatusBadRequest, wire.CodeValidation, "The attachment (Id=%s) belongs to no activity.", rec.ID)
	}
	pent, ok := c.Cat.Logical(obj.Table)
	if !ok || !pent.Activity {
		return nil, wire.Errf(http.StatusBadRequest, wire.CodeValidation, "An attachment belongs to an activity, not a%s %s.", article(obj.Table), obj.Table)
	}
	parent, err := store.GetRecord(c.Ctx, q, pent.Set, obj.ID)
	if err != nil {
		return nil, err
	}
	if parent == nil {
		return nil, wire.RecordNotFound(pent.Logical, obj.ID)
	}
	if err := c.RequirePrivileges("changing the attachments of an activity", "prv"+verb+"Activity"); err != nil {
		return nil, err
	}
	if parent.Owner() != c.UserID {
		return nil, wire.Errf(http.StatusForbidden, wire.CodePrivilege,
			"Principal user (Id=%s, type=8) is missing prvWriteActivity privilege for %s (Id=%s), which is owned by another user (Id=%s): only the owner may add or remove its attachments.",
			c.UserID, pent.Logical, parent.ID, parent.Owner())
	}
	if st, _ := parent.Attrs["statecode"].(float64); st != 0 {
		return nil, wire.Errf(http.StatusBadRequest, wire.CodeValidation,
			"The %s (Id=%s) is %s and can't be edited, so its attachments can't be added, changed or removed.",
			pent.Logical, parent.ID, map[float64]string{1: "completed", 2: "canceled", 3: "scheduled"}[st])
	}
	return parent, nil
}

// CountAttachments sets the attachmentcount of the email obj points at to
// the number of its attachments, as the CRM keeps that read-only column.
// Other activities and a nil obj are left alone.
func (c *Session) CountAttachments(tx *sql.Tx, obj *store.Ref) error {
	if obj == nil || obj.Table != "email" {
		return nil
	}
	email, err := store.GetRecord(c.Ctx, tx, "emails", obj.ID)
	if err != nil || email == nil {
		return err
	}
	n, err := c.AttachmentCounts(tx)
	if err != nil {
		return err
	}
	if email.Attrs["attachmentcount"] == float64(n[obj.ID]) {
		return nil
	}
	email.Attrs["attachmentcount"] = float64(n[obj.ID])
	return store.UpdateRecord(c.Ctx, tx, email)
}

// AttachmentCounts returns how many attachments each activity has, by
// activity id.
func (c *Session) AttachmentCounts(q store.Queryer) (map[string]int, error) {
	list, err := store.ListRecords(c.Ctx, q, "activitymimeattachments")
	if err != nil {
		return nil, err
	}
	n := map[string]int{}
	for _, a := range list {
		if o := a.Lookups["objectid"]; o != nil {
			n[o.ID]++
		}
	}
	return n, nil
}

// AfterDelete finishes the delete of rec: an attachment's email gets its
// new attachmentcount, and the attachments and notes of a deleted record
// go with it (Delete: Cascade in the relationships of Microsoft's
// activitymimeattachment and annotation references).
func (c *Session) AfterDelete(tx *sql.Tx, ent *Entity, rec *store.Record) error {
	if ent.Logical == "activitymimeattachment" {
		return c.CountAttachments(tx, rec.Lookups["objectid"])
	}
	for _, set := range []string{"activitymimeattachments", "annotations"} {
		if set == "activitymimeattachments" && !ent.Activity {
			continue
		}
		list, err := store.ListRecords(c.Ctx, tx, set)
		if err != nil {
			return err
		}
		for _, r := range list {
			if o := r.Lookups["objectid"]; o != nil && o.ID == rec.ID {
				if err := store.DeleteRecord(c.Ctx, tx, set, r.ID); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// resolveActivityPointer finds the activity an activitypointer id names.
func (c *Session) resolveActivityPointer(q store.Queryer, id string) (*Entity, *store.Record, error) {
	for _, set := range activitySets {
		ent, ok := c.Cat.Set(set)
		if !ok {
			continue
		}
		rec, err := store.GetRecord(c.Ctx, q, set, id)
		if err != nil {
			return nil, nil, err
		}
		if rec != nil {
			return ent, rec, nil
		}
	}
	return nil, nil, wire.RecordNotFound("activitypointer", id)
}
