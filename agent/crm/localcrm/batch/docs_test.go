package batch

import (
	"encoding/json"
	"strings"
	"testing"
)

const account1 = "accounts(00000000-0000-0000-0000-000000000001)"

// docsChangeSet is Microsoft's change-set example from "Execute batch
// operations using the Web API", byte for byte apart from line ends.
const docsChangeSet = `--batch_22975cad-7f57-410d-be15-6363209367ea
Content-Type: multipart/mixed; boundary="changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a"

--changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{
  "subject": "Task 1 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts(00000000-0000-0000-0000-000000000001)"
}
--changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{
  "subject": "Task 2 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts(00000000-0000-0000-0000-000000000001)"
}
--changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 3

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{
  "subject": "Task 3 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts(00000000-0000-0000-0000-000000000001)"
}
--changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a--

--batch_22975cad-7f57-410d-be15-6363209367ea
Content-Type: application/http
Content-Transfer-Encoding: binary

GET /api/data/v9.2/accounts(00000000-0000-0000-0000-000000000001)/Account_Tasks?$select=subject HTTP/1.1


--batch_22975cad-7f57-410d-be15-6363209367ea--
`

func seeded() *store {
	s := newStore()
	s.recs[account1] = map[string]any{"name": "Contoso"}
	return s
}

func TestDocsChangeSetExample(t *testing.T) {
	for name, body := range map[string]string{"CRLF": crlf(docsChangeSet), "LF as printed": docsChangeSet} {
		t.Run(name, func(t *testing.T) {
			s := seeded()
			w := post(t, s.options(), "batch_22975cad-7f57-410d-be15-6363209367ea", body,
				"OData-MaxVersion", "4.0", "OData-Version", "4.0", "If-None-Match", "null", "Accept", "application/json")
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			parts := parseAnswer(t, w)
			if len(parts) != 2 || len(parts[0].set) != 3 {
				t.Fatalf("parts %+v", parts)
			}
			for i, a := range parts[0].set {
				id := a.mime.Get("Content-ID")
				if id != string(rune('1'+i)) || a.status != 204 || !strings.HasPrefix(a.header.Get("OData-EntityId"), root+"tasks(") ||
					a.header.Get("Location") != a.header.Get("OData-EntityId") || a.header.Get("OData-Version") != "4.0" {
					t.Fatalf("change set answer %d: %+v", i, a)
				}
			}
			get := parts[1]
			if get.status != 200 || !strings.HasPrefix(get.header.Get("Content-Type"), "application/json") {
				t.Fatalf("GET answer %+v", get)
			}
			var list struct{ Value []map[string]any }
			if err := json.Unmarshal([]byte(get.body), &list); err != nil || len(list.Value) != 3 || list.Value[0]["subject"] != "Task 1 in batch" {
				t.Fatalf("the GET after the change set sees %s", get.body)
			}
			if s.begins != 1 || s.commits != 1 || s.rollbacks != 0 {
				t.Fatalf("begins %d commits %d rollbacks %d", s.begins, s.commits, s.rollbacks)
			}
		})
	}
}

// The docs example "Reference URIs in request body": $1 and $2 as bind
// values, full URLs with the organization URI on the request lines.
func TestDocsReferenceInBody(t *testing.T) {
	body := crlf(`--batch_AAA123
Content-Type: multipart/mixed; boundary=changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST http://crm.test/api/data/v9.2/leads HTTP/1.1
Content-Type: application/json

{
    "firstname":"first name",
    "lastname":"last name"
}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

POST http://crm.test/api/data/v9.2/contacts HTTP/1.1
Content-Type: application/json

{"firstname":"first name"}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 3

POST http://crm.test/api/data/v9.2/accounts HTTP/1.1
Content-Type: application/json

{
    "name":"IcM Account",
    "originatingleadid@odata.bind":"$1",
    "primarycontactid@odata.bind":"$2"
}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab--
--batch_AAA123--
`)
	s := newStore()
	w := post(t, s.options(), "batch_AAA123", body)
	parts := parseAnswer(t, w)
	if w.Code != 200 || len(parts) != 1 || len(parts[0].set) != 3 {
		t.Fatalf("%d %+v", w.Code, parts)
	}
	lead := strings.TrimPrefix(parts[0].set[0].header.Get("OData-EntityId"), root)
	contact := strings.TrimPrefix(parts[0].set[1].header.Get("OData-EntityId"), root)
	acct := s.recs[strings.TrimPrefix(parts[0].set[2].header.Get("OData-EntityId"), root)]
	if acct["_originatingleadid_value"] != lead || acct["_primarycontactid_value"] != contact || acct["name"] != "IcM Account" {
		t.Fatalf("account %v, lead %s, contact %s", acct, lead, contact)
	}
}

// The docs examples "Reference URI in request URL" (PUT $1/lastname) and
// "Reference URIs in URL and request body using @odata.id" (PUT
// $1/primarycontactid/$ref with {"@odata.id":"$2"}) and PATCH $1 with a
// $2 bind.
func TestDocsReferenceInURL(t *testing.T) {
	body := crlf(`--batch_AAA123
Content-Type: multipart/mixed; boundary=changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type:application/http
Content-Transfer-Encoding:binary
Content-ID:1

POST http://crm.test/api/data/v9.2/accounts HTTP/1.1
Content-Type: application/json

{ "name":"Account Name"}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type:application/http
Content-Transfer-Encoding:binary
Content-ID:2

POST http://crm.test/api/data/v9.2/contacts HTTP/1.1
Content-Type:application/json

{ "firstname":"Contact first name"}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type:application/http
Content-Transfer-Encoding:binary
Content-ID:3

PUT $1/primarycontactid/$ref HTTP/1.1
Content-Type:application/json

{"@odata.id":"$2"}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Transfer-Encoding: binary
Content-Type: application/http
Content-ID: 4

PUT $2/lastname HTTP/1.1
Content-Type: application/json

{
  "value":"BBBBB"
}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 5

PATCH /$1 HTTP/1.1
Content-Type: application/json

{
  "description":"patched",
  "parentaccountid@odata.bind":"$1"
}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab--
--batch_AAA123--
`)
	s := newStore()
	w := post(t, s.options(), "batch_AAA123", body)
	parts := parseAnswer(t, w)
	if w.Code != 200 || len(parts) != 1 || len(parts[0].set) != 5 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	for _, a := range parts[0].set {
		if a.status != 204 {
			t.Fatalf("answer %+v", a)
		}
	}
	acctKey := strings.TrimPrefix(parts[0].set[0].header.Get("OData-EntityId"), root)
	contactKey := strings.TrimPrefix(parts[0].set[1].header.Get("OData-EntityId"), root)
	acct, contact := s.recs[acctKey], s.recs[contactKey]
	if acct["_primarycontactid_value"] != contactKey || acct["description"] != "patched" || acct["_parentaccountid_value"] != acctKey || contact["lastname"] != "BBBBB" {
		t.Fatalf("account %v contact %v", acct, contact)
	}
	// The operations reached Exec at the entity's own path.
	if got := s.seen[2].URL.Path; got != "/api/data/v9.2/"+acctKey+"/primarycontactid/$ref" {
		t.Fatalf("PUT $1/... went to %q", got)
	}
}

// The docs' note: a reference before its declaration is a 400, with
// Dataverse's message, and nothing runs.
func TestDocsReferenceBeforeDeclaration(t *testing.T) {
	body := crlf(`--batch_AAA123
Content-Type: multipart/mixed; boundary=changeset_BBB456

--changeset_BBB456
Content-Type: application/http
Content-Transfer-Encoding:binary
Content-ID: 2

POST http://crm.test/api/data/v9.2/phonecalls HTTP/1.1
Content-Type: application/json;type=entry

{
    "phonenumber":"911",
    "regardingobjectid_account_phonecall@odata.bind" : "$1"
}

--changeset_BBB456
Content-Type: application/http
Content-Transfer-Encoding:binary
Content-ID: 1

POST http://crm.test/api/data/v9.2/accounts HTTP/1.1
Content-Type: application/json;type=entry

{
    "name":"QQQQ",
    "revenue": 1.50
}

--changeset_BBB456--
--batch_AAA123--
`)
	s := newStore()
	w := post(t, s.options(), "batch_AAA123", body)
	if w.Code != 400 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if _, msg := odataError(t, w); msg != "Content-ID Reference: '$1' does not exist in the batch context." {
		t.Fatalf("message %q", msg)
	}
	if len(s.seen) != 0 || s.begins != 0 {
		t.Fatal("operations ran although the batch was refused")
	}
}

// docsErrorBatch is the docs' "Handling errors" example: the first task's
// subject is too long.
var docsErrorBatch = crlf(`--batch_431faf5a-f979-4ee6-a374-d242f8962d41
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-Length: 436

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{
  "subject": "Subject is too long ` + strings.Repeat("x", 200) + `",
  "regardingobjectid_account_task@odata.bind": "accounts(00000000-0000-0000-0000-000000000001)"
}
--batch_431faf5a-f979-4ee6-a374-d242f8962d41
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-Length: 250

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{
  "subject": "Task 2 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts(00000000-0000-0000-0000-000000000001)"
}
--batch_431faf5a-f979-4ee6-a374-d242f8962d41
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-Length: 250

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{
  "subject": "Task 3 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts(00000000-0000-0000-0000-000000000001)"
}
--batch_431faf5a-f979-4ee6-a374-d242f8962d41--
`)

func TestDocsStopsAtFirstError(t *testing.T) {
	s := seeded()
	w := post(t, s.options(), "batch_431faf5a-f979-4ee6-a374-d242f8962d41", docsErrorBatch)
	if w.Code != 400 {
		t.Fatalf("the batch status must be the failing operation's: %d", w.Code)
	}
	if w.Header().Get("Preference-Applied") != "" {
		t.Fatal("Preference-Applied without Prefer")
	}
	parts := parseAnswer(t, w)
	if len(parts) != 1 || parts[0].status != 400 || !strings.Contains(parts[0].body, `"code":"0x80044331"`) ||
		!strings.HasPrefix(parts[0].header.Get("Content-Type"), "application/json") {
		t.Fatalf("parts %+v", parts)
	}
	if n := s.count("tasks"); n != 0 {
		t.Fatalf("%d tasks created after the failure", n)
	}
}

func TestDocsContinueOnError(t *testing.T) {
	s := seeded()
	w := post(t, s.options(), "batch_431faf5a-f979-4ee6-a374-d242f8962d41", docsErrorBatch, "Prefer", "odata.continue-on-error")
	if w.Code != 200 || w.Header().Get("Preference-Applied") != "odata.continue-on-error" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	parts := parseAnswer(t, w)
	if len(parts) != 3 || parts[0].status != 400 || parts[1].status != 204 || parts[2].status != 204 {
		t.Fatalf("parts %+v", parts)
	}
	if n := s.count("tasks"); n != 2 {
		t.Fatalf("%d tasks, want 2", n)
	}
}
