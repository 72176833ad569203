package odata_test

import (
	"net/url"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
)

func TestWildcardFilters(t *testing.T) {
	e := crmtest.New(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	for _, s := range []string{"100% sure", "under_score", "[draft] plan", "abc", "aXc", "Report Q1", "a%c"} {
		e.CreateEmail(alice, map[string]any{"subject": s})
	}
	for _, tc := range []struct {
		filter string
		want   string
	}{
		{"contains(subject,'100[%]')", "100% sure"},
		{"contains(subject,'%')", "100% sure|under_score|[draft] plan|abc|aXc|Report Q1|a%c"},
		{"contains(subject,'[%]')", "100% sure|a%c"},
		{"startswith(subject,'a_c')", "abc|aXc|a%c"},
		{"startswith(subject,'a[^x]c')", "abc|a%c"},
		{"startswith(subject,'A[B-C]C')", "abc"},
		{"contains(subject,'[[]draft]')", "[draft] plan"},
		{"contains(subject,'[_]')", "under_score"},
		{"contains(subject,'under_score')", "under_score"},
		{"endswith(subject,'q[0-9]')", "Report Q1"},
		{"endswith(subject,'[^0-9]')", "100% sure|under_score|[draft] plan|abc|aXc|a%c"},
		{"contains(subject,'r%t')", "[draft] plan|Report Q1"},
		{"startswith(subject,'ABC')", "abc"},
		{"not contains(subject,'_')", ""},
		{"startswith(subject,'a[%]c')", "a%c"},
	} {
		filter := "(" + tc.filter + ") and " + crmtest.NotDemoEmails()
		r := e.Req("GET", "emails?$select=subject&$orderby=createdon&$filter="+url.QueryEscape(filter), alice, nil)
		if r.Status != 200 {
			t.Errorf("%s: %d %s", tc.filter, r.Status, r.Raw)
			continue
		}
		var got []string
		for _, v := range r.Values() {
			got = append(got, v["subject"].(string))
		}
		if strings.Join(got, "|") != tc.want {
			t.Errorf("%s: got %q, want %q", tc.filter, strings.Join(got, "|"), tc.want)
		}
	}
	for _, tc := range []struct{ filter, inMsg string }{
		{"contains(subject,'[abc')", "without its ']'"},
		{"startswith(subject,'x[')", "without its ']'"},
		{"contains(subject,'[]')", "empty set"},
		{"startswith(subject,'%x')", "trailing wildcard"},
		{"endswith(subject,'x%')", "trailing wildcard"},
		{"contains(subject,@p)&@p='a[b'", "without its ']'"},
	} {
		path := "emails?$filter=" + url.QueryEscape(tc.filter)
		if before, alias, ok := strings.Cut(tc.filter, "&"); ok {
			path = "emails?$filter=" + url.QueryEscape(before) + "&" + alias
		}
		r := e.Req("GET", path, alice, nil)
		if r.Status != 400 || r.ErrCode() != "0x80060888" || !strings.Contains(r.ErrMessage(), tc.inMsg) {
			t.Errorf("%s: %d %s", tc.filter, r.Status, r.Raw)
		}
	}
}
