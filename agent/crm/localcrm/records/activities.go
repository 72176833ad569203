package records

// The participationtypemask values of activity parties ([PAD]
// reference/entities/activityparty.md): an email has 1-4, an appointment
// 5-7.
var (
	emailMasks       = map[int]string{1: "sender", 2: "to", 3: "cc", 4: "bcc"}
	appointmentMasks = map[int]string{5: "required attendee", 6: "optional attendee", 7: "organizer"}
)

// Participation masks of appointment parties.
const (
	MaskRequiredAttendee = 5
	MaskOptionalAttendee = 6
	MaskOrganizer        = 7
)

// The priority choice of activities (prioritycode in Microsoft's
// appointment and task references).
var priorityOptions = map[int]string{0: "Low", 1: "Normal", 2: "High"}

// activityTables returns the appointment and task tables of an
// environment of app: the calendar and to-do items a desktop client keeps
// in step with the CRM.
func activityTables(app string) []*Entity {
	owning := map[string]bool{"owningbusinessunit": true, "owninguser": true, "owningteam": true, "activitytypecode": true}
	return []*Entity{
		{
			// Columns and lengths from Microsoft's appointment reference
			// ([PAD] reference/entities/appointment.md): subject 200,
			// description a memo of 1048576, location 200, globalobjectid
			// 300 ("the ID of the appointment in Microsoft Office Outlook").
			Logical: "appointment", Set: "appointments", Key: "activityid", PrimaryName: "subject", UserOwned: true,
			Activity: true, PartyNav: "appointment_activity_parties", PartyMasks: appointmentMasks,
			Columns: append([]Column{
				{Name: "activityid", Type: TGUID},
				str("subject", 200),
				memo("description", 1048576),
				str("location", 200),
				{Name: "scheduledstart", Type: TDateTime},
				{Name: "scheduledend", Type: TDateTime},
				{Name: "isalldayevent", Type: TBool},
				str("globalobjectid", 300),
				{Name: "prioritycode", Type: TInt, Options: priorityOptions},
			}, commonTail()...),
			Lookups: append([]*Lookup{activityRegarding(app, "appointment")}, ownerLookups("appointment")...),
			// StateCode options of the reference: 0 Open (default status
			// 1 Free; 2 Tentative), 1 Completed (3), 2 Canceled (4),
			// 3 Scheduled (default status 5 Busy; 6 Out of Office).
			States: map[int][]int{0: {1, 2}, 1: {3}, 2: {4}, 3: {5, 6}},
			// A new appointment is Scheduled/Busy, as the CRM books one
			// (UNCONFIRMED for a Web API create without statecode; the
			// reference marks statecode IsValidForCreate false and gives
			// Scheduled the default status 5 Busy).
			NewState:      3,
			readOnlyNames: owning,
		},
		{
			// Microsoft's task reference ([PAD] reference/entities/task.md):
			// subject 200; description a memo (2000, UNCONFIRMED);
			// scheduledend is the due date; percentcomplete 0-100.
			Logical: "task", Set: "tasks", Key: "activityid", PrimaryName: "subject", UserOwned: true,
			Activity: true,
			Columns: append([]Column{
				{Name: "activityid", Type: TGUID},
				str("subject", 200),
				memo("description", 2000),
				{Name: "scheduledstart", Type: TDateTime},
				{Name: "scheduledend", Type: TDateTime},
				{Name: "actualend", Type: TDateTime},
				{Name: "percentcomplete", Type: TInt},
				{Name: "prioritycode", Type: TInt, Options: priorityOptions},
			}, commonTail()...),
			Lookups: append([]*Lookup{activityRegarding(app, "task")}, ownerLookups("task")...),
			// 0 Open {2 Not Started (default), 3 In Progress, 4 Waiting on
			// someone else, 7 Deferred}, 1 Completed {5}, 2 Canceled {6}.
			States:        map[int][]int{0: {2, 3, 4, 7}, 1: {5}, 2: {6}},
			readOnlyNames: owning,
		},
	}
}
