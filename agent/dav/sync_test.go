package dav_test

import (
	"errors"
	"testing"

	"crmsync/agent/dav"
)

// TestChanges runs sync-collection on an address book and a calendar:
// the initial sync lists everything, the next one exactly one change and
// one removal, and a made-up token is ErrTokenInvalid.
func TestChanges(t *testing.T) {
	t.Parallel()
	_, c, book, cal := setup(t)
	ctx := testCtx(t)
	for _, tc := range []struct {
		name string
		coll dav.Collection
		kind dav.Kind
		ext  string
		item func(uid, text string) []byte
	}{
		{"address book", book, dav.AddressBook, ".vcf", vcard},
		{"calendar", cal, dav.Calendar, ".ics", vevent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			etags := map[string]string{}
			for _, uid := range []string{"a", "b", "c"} {
				e, err := c.Put(ctx, tc.coll.Href+uid+tc.ext, tc.item(uid, uid), tc.kind, "")
				if err != nil {
					t.Fatal(err)
				}
				etags[tc.coll.Href+uid+tc.ext] = e
			}
			d, err := c.Changes(ctx, tc.coll.Href, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Changed) != 3 || len(d.Removed) != 0 || d.Token == "" {
				t.Fatalf("initial Changes = %+v", d)
			}
			for _, r := range d.Changed {
				if etags[r.Href] != r.ETag {
					t.Fatalf("initial Changes has %+v, want ETag %s", r, etags[r.Href])
				}
			}

			b, a := tc.coll.Href+"b"+tc.ext, tc.coll.Href+"a"+tc.ext
			eb, err := c.Put(ctx, b, tc.item("b", "b changed"), tc.kind, etags[b])
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Delete(ctx, a, etags[a]); err != nil {
				t.Fatal(err)
			}
			before := c.Requests()
			d2, err := c.Changes(ctx, tc.coll.Href, d.Token)
			if err != nil {
				t.Fatal(err)
			}
			if len(d2.Changed) != 1 || d2.Changed[0] != (dav.Ref{Href: b, ETag: eb}) || len(d2.Removed) != 1 || d2.Removed[0] != a {
				t.Fatalf("Changes after one PUT and one DELETE = %+v", d2)
			}
			if d2.Token == d.Token || c.Requests()-before != 1 {
				t.Fatalf("token %q after %q, %d requests", d2.Token, d.Token, c.Requests()-before)
			}
			d3, err := c.Changes(ctx, tc.coll.Href, d2.Token)
			if err != nil || len(d3.Changed)+len(d3.Removed) != 0 {
				t.Fatalf("Changes with nothing changed = %+v, %v", d3, err)
			}

			_, err = c.Changes(ctx, tc.coll.Href, "http://radicale.org/ns/sync/made-up")
			if !errors.Is(err, dav.ErrTokenInvalid) || errors.Is(err, dav.ErrAuth) {
				t.Fatalf("Changes with a made-up token: %v, want ErrTokenInvalid", err)
			}
		})
	}
}
