package item

import (
	"os"
	"path/filepath"
	"testing"
)

// seed adds every testdata file with the extension to the corpus.
func seed(f *testing.F, ext string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*"+ext))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// The fuzz targets check more than "no panic": whatever decodes must
// encode over itself, and re-decode to the same values (a sync that
// flip-flops would write forever).

func FuzzDecodeContact(f *testing.F) {
	seed(f, ".vcf")
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := DecodeContact(data)
		if err != nil {
			return
		}
		out, err := EncodeContact(data, "uid", "crm", contactKeys, it.Values)
		if err != nil {
			return
		}
		again, err := DecodeContact(out)
		if err != nil {
			t.Fatalf("own output does not decode: %v\n%q", err, out)
		}
		want := it.Values
		if want[fFullName] == "" {
			want = nonEmpty(want)
			delete(want, fFullName) // built from the name or email
			delete(again.Values, fFullName)
		}
		if g, w := nonEmpty(again.Values), nonEmpty(want); len(g) != len(w) {
			t.Fatalf("values changed: %q -> %q\n%q", w, g, out)
		} else {
			for k := range w {
				if g[k] != w[k] {
					t.Fatalf("%s changed: %q -> %q\n%q", k, w[k], g[k], out)
				}
			}
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	seed(f, ".ics")
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := DecodeEvent(data)
		if err != nil {
			return
		}
		out, err := EncodeEvent(data, "uid", "crm", eventKeys, it.Values)
		if err != nil {
			return // go-ical refuses some structures it decodes, e.g. two DTSTAMPs in an override
		}
		again, err := DecodeEvent(out)
		if err != nil {
			t.Fatalf("own output does not decode: %v\n%q", err, out)
		}
		for _, k := range eventKeys {
			if nonEmpty(again.Values)[k] != nonEmpty(it.Values)[k] {
				t.Fatalf("%s changed: %q -> %q\n%q", k, it.Values[k], again.Values[k], out)
			}
		}
	})
}

func FuzzDecodeTask(f *testing.F) {
	seed(f, ".ics")
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := DecodeTask(data)
		if err != nil {
			return
		}
		out, err := EncodeTask(data, "uid", "crm", taskKeys, it.Values)
		if err != nil {
			return
		}
		again, err := DecodeTask(out)
		if err != nil {
			t.Fatalf("own output does not decode: %v\n%q", err, out)
		}
		for _, k := range taskKeys {
			if nonEmpty(again.Values)[k] != nonEmpty(it.Values)[k] {
				t.Fatalf("%s changed: %q -> %q\n%q", k, it.Values[k], again.Values[k], out)
			}
		}
	})
}
