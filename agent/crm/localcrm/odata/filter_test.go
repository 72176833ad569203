package odata

import (
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm/internal/wire"
)

// filterRecord is the row the filter tests evaluate against.
var filterRecord = map[string]any{
	"subject":                  "Re: O'Brien Quote",
	"messageid":                "<abc@mail.example>",
	"description":              nil,
	"directioncode":            false,
	"statecode":                float64(1),
	"prioritycode":             float64(2),
	"createdon":                "2025-03-14T09:30:00Z",
	"activityid":               "5d0e4f6a-1b2c-4d3e-8f90-a1b2c3d4e5f6",
	"_regardingobjectid_value": "7eb682f1-ca75-e511-80d4-00155d2a68d1",
	"_ownerid_value":           nil,
}

// emailSchema is the part of the email table the filter tests use.
type emailSchema map[string]string

func (s emailSchema) TypeName() string { return "Microsoft.Dynamics.CRM.email" }
func (s emailSchema) EdmType(name string) (string, bool) {
	t, ok := s[name]
	return t, ok
}
func (s emailSchema) Expandable(string) (Schema, bool, bool) { return nil, false, false }

func filterEntity() emailSchema {
	return emailSchema{
		"subject": "Edm.String", "messageid": "Edm.String", "description": "Edm.String",
		"directioncode": "Edm.Boolean", "statecode": "Edm.Int32", "prioritycode": "Edm.Int32",
		"createdon": "Edm.DateTimeOffset", "activityid": "Edm.Guid",
		"_regardingobjectid_value": "Edm.Guid", "_ownerid_value": "Edm.Guid",
	}
}

func TestFilterEval(t *testing.T) {
	aliases := map[string]string{"@p1": "'o''brien'", "@col": "prioritycode", "@g": "7EB682F1-CA75-E511-80D4-00155D2A68D1"}
	tests := []struct {
		filter string
		want   bool
	}{
		{"subject eq 're: o''brien quote'", true},
		{"subject ne 'x'", true},
		{"subject eq 'x'", false},
		{"contains(subject,@p1)", true},
		{"startswith(subject,'RE:') and endswith(subject,'quote')", true},
		{"not startswith(subject,'fw')", true},
		{"contains(description,'x')", false},
		{"description eq null", true},
		{"description ne null", false},
		{"null eq description", true},
		{"messageid ne null", true},
		{"directioncode eq false", true},
		{"directioncode", false},
		{"not directioncode", true},
		{"statecode eq 1 and prioritycode gt 1", true},
		{"statecode ge 2 or prioritycode le 1", false},
		{"@col eq 2", true},
		{"prioritycode lt 2.5", true},
		{"prioritycode eq -2", false},
		{"(statecode eq 0 or statecode eq 1) and not (prioritycode eq 3)", true},
		{"not (statecode eq 0 or statecode eq 1)", false},
		{"_regardingobjectid_value eq 7eb682f1-ca75-e511-80d4-00155d2a68d1", true},
		{"_regardingobjectid_value eq '7EB682F1-CA75-E511-80D4-00155D2A68D1'", true},
		{"_regardingobjectid_value eq @g", true},
		{"_ownerid_value eq null", true},
		{"_ownerid_value eq 7eb682f1-ca75-e511-80d4-00155d2a68d1", false},
		{"_ownerid_value gt 7eb682f1-ca75-e511-80d4-00155d2a68d1", false},
		{"createdon gt 2025-03-14T09:00:00Z and createdon lt 2025-03-15", true},
		{"createdon ge 2025-03-14T10:30:00+01:00", true},
		{"createdon gt 2025-03-14T10:30:00+01:00", false},
		{"activityid eq 5d0e4f6a-1b2c-4d3e-8f90-a1b2c3d4e5f6", true},
		{"  subject   eq   'Re: O''Brien Quote'  ", true},
	}
	ent := filterEntity()
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			n, err := ParseFilter(tc.filter, aliases)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if err := CheckFilter(n, ent.EdmType, ent.TypeName()); err != nil {
				t.Fatalf("check: %v", err)
			}
			if got := EvalFilter(n, filterRecord); got != tc.want {
				t.Fatalf("got %v, want %v (ast %s)", got, tc.want, n)
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	tests := []struct {
		filter string
		inErr  string
	}{
		{"", "ends too early"},
		{"subject eq", "ends too early"},
		{"subject eq 'x", "unterminated"},
		{"subject eq 'x' and", "ends too early"},
		{"(subject eq 'x'", "')' expected"},
		{"subject eq 'x')", "unexpected ')'"},
		{"subject eq 'x' 'y'", "unexpected 'y'"},
		{"nosuch eq 1", "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.email'."},
		{"statecode eq 'open'", "incompatible types"},
		{"subject eq 5", "incompatible types"},
		{"directioncode eq 1", "incompatible types"},
		{"subject", "must evaluate to true or false"},
		{"statecode and directioncode", "must be true or false"},
		{"contains(subject)", "takes 2 arguments"},
		{"contains(subject,'a','b')", "takes 2 arguments"},
		{"prioritycode eq -infinity", "not a valid literal"},
		{"prioritycode eq 1e999", "not a valid literal"},
		{"contains(statecode,'1')", "must be strings"},
		{"tolower(subject) eq 'x'", "not supported"},
		{"primarycontactid/fullname eq 'x'", "property path"},
		{"subject eq @missing", "has no value"},
		{"subject eq @a", "may not refer to another alias"},
		{"subject eq 12abc", "not a valid literal"},
		{"subject eq 'a' # 1", "unexpected character"},
		{"subject eq eq", "operand is expected"},
		{"@ eq 1", "parameter alias"},
		{strings.Repeat("(", 150) + "directioncode" + strings.Repeat(")", 150), "nested more than 100"},
		{strings.Repeat("not ", 150) + "directioncode", "nested more than 100"},
		{"subject eq '" + strings.Repeat("x", maxFilterLen) + "'", "longer than"},
		{"subject eq '\xff'", "UTF-8"},
	}
	ent := filterEntity()
	aliases := map[string]string{"@a": "@b", "@b": "'x'"}
	for _, tc := range tests {
		t.Run(wire.Truncate(tc.filter, 40), func(t *testing.T) {
			n, err := ParseFilter(tc.filter, aliases)
			if err == nil {
				err = CheckFilter(n, ent.EdmType, ent.TypeName())
			}
			if err == nil || !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.inErr)
			}
		})
	}
}

func TestFilterDepthIsBounded(t *testing.T) {
	// Long flat chains are fine (they are loops, not recursion).
	long := "statecode eq 1" + strings.Repeat(" or statecode eq 1", 500)
	if _, err := ParseFilter(long, nil); err != nil {
		t.Fatalf("flat chain: %v", err)
	}
	ok := strings.Repeat("(", 99) + "directioncode" + strings.Repeat(")", 99)
	if _, err := ParseFilter(ok, nil); err != nil {
		t.Fatalf("99 levels: %v", err)
	}
}

// FuzzFilter checks that no input makes the parser, checker or evaluator
// panic, and that a parsed expression prints to text that parses again.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"subject eq 'x'",
		"contains(subject,'a') or startswith(subject,'b')",
		"not (statecode eq 0) and prioritycode ge 1.5",
		"_regardingobjectid_value eq 7eb682f1-ca75-e511-80d4-00155d2a68d1",
		"createdon gt 2025-01-01T00:00:00Z",
		"subject eq @p1",
	} {
		f.Add(s)
	}
	ent := filterEntity()
	aliases := map[string]string{"@p1": "'o''x'", "@p2": "statecode", "@p3": "@p1"}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseFilter(s, aliases)
		if err != nil {
			return
		}
		_ = CheckFilter(n, ent.EdmType, ent.TypeName())
		_ = EvalFilter(n, filterRecord)
		printed := n.String()
		again, err := ParseFilter(printed, nil)
		if err != nil {
			t.Fatalf("%q parsed to %q, which does not parse: %v", s, printed, err)
		}
		if again.String() != printed {
			t.Fatalf("printing is not stable: %q -> %q", printed, again.String())
		}
	})
}

// TestFastPaths: the filters answered from an index are recognised, and
// nothing else is.
func TestFastPaths(t *testing.T) {
	parse := func(s string) Node {
		n, err := ParseFilter(s, nil)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return n
	}
	if _, ok := AndedEq(nil, "messageid"); ok {
		t.Error("no filter must not take the fast path")
	}
	for _, tc := range []struct {
		filter string
		want   string
		ok     bool
	}{
		{"messageid eq '<a@x>'", "<a@x>", true},
		{"'<a@x>' eq messageid and statecode eq 1", "<a@x>", true},
		{"statecode eq 1 and messageid eq '<a@x>'", "<a@x>", true},
		{"messageid eq '<a@x>' or statecode eq 1", "", false},
		{"messageid ne '<a@x>'", "", false},
		{"subject eq '<a@x>'", "", false},
	} {
		got, ok := AndedEq(parse(tc.filter), "messageid")
		if got != tc.want || ok != tc.ok {
			t.Errorf("AndedEq(%s) = %q %v", tc.filter, got, ok)
		}
	}
	cols := []string{"emailaddress1", "emailaddress2"}
	for _, tc := range []struct {
		filter string
		want   string
		ok     bool
	}{
		{"emailaddress1 eq 'a' or emailaddress2 eq 'b'", "a b", true},
		{"(emailaddress1 eq 'a' or emailaddress2 eq 'b') and statecode eq 0", "a b", true},
		{"emailaddress1 eq 'a' or statecode eq 0", "", false},
		{"emailaddress3 eq 'a'", "", false},
		{"contains(emailaddress1,'a')", "", false},
	} {
		got, ok := EqAnyOf(parse(tc.filter), cols)
		if strings.Join(got, " ") != tc.want || ok != tc.ok {
			t.Errorf("EqAnyOf(%s) = %q %v", tc.filter, got, ok)
		}
	}
}
