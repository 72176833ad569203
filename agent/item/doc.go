// Package item converts the synchronised fields of one CRM contact,
// appointment or task between a neutral map of values and the text a
// CardDAV or CalDAV server stores: vCard 4.0/3.0 (RFC 6350, RFC 2426) and
// iCalendar (RFC 5545).
//
// Encoding never rebuilds an item from scratch when the server already has
// it: everything the codec does not own (photos, addresses, alarms, other
// apps' X- properties, time zones) is carried over from the server's text,
// because a sync agent that drops a user's data is worse than none.
package item

// Values are the synchronised fields of one item, keyed by the field's
// Exchange name (the names Dynamics 365's sync field mappings use). An
// absent key or "" means empty.
type Values map[string]string

// Item is one decoded address book or calendar item.
type Item struct {
	UID        string
	CRMID      string   // the X-CRM-ID property ("" when the item is not linked to a CRM record)
	Categories []string // CATEGORIES, e.g. "Track in CRM"
	Values     Values
}

// TrackCategory is the category a user puts on an item to have it
// synchronised with the CRM.
const TrackCategory = "Track in CRM"

// prodID names this codec in the PRODID of the items it creates.
const prodID = "-//crmsync//EN"

// propCRMID links an item to its CRM record.
const propCRMID = "X-CRM-ID"

// Field names (the Values keys), as Dynamics 365's sync mappings spell them.
const (
	fGivenName   = "GivenName"
	fSurname     = "Surname"
	fFullName    = "FullName"
	fEmail1      = "Email1Address"
	fEmail2      = "Email2Address"
	fEmail3      = "Email3Address"
	fBusPhone    = "BusinessPhone"
	fMobilePhone = "MobilePhone"
	fHomePhone   = "HomePhone"
	fCompany     = "CompanyName"
	fJobTitle    = "JobTitle"

	fSubject   = "Subject"
	fStart     = "Start"
	fEnd       = "End"
	fAllDay    = "IsAllDayEvent"
	fLocation  = "Location"
	fBody      = "Body"
	fOrganizer = "Organizer"
	fRequired  = "RequiredAttendees"
	fOptional  = "OptionalAttendees"

	fDueDate = "DueDate"
	fStatus  = "Status"
	fPercent = "PercentComplete"
)
