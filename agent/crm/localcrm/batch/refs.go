package batch

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/url"
	"strings"
)

// planned is an operation checked in its context and ready to run.
type planned struct {
	*op
	ref      string   // the Content-ID the URL starts with ($ref); "" when none
	suffix   string   // what follows $ref in the URL
	url      *url.URL // the resolved URL when ref is ""
	bodyRefs bool     // the JSON body holds $n values to replace
}

// unit is one top-level part, checked: an operation or a change set.
type unit struct {
	op  *planned
	set []*planned
}

// unknownRef is Dataverse's message for a reference to a Content-ID that
// is not declared before it in the change set.
func unknownRef(name string) *apiError {
	return bad("Content-ID Reference: '$%s' does not exist in the batch context.", name)
}

// plan checks every URL and every $n reference before anything runs.
func plan(parts []part, root *url.URL) ([]unit, *apiError) {
	units := make([]unit, 0, len(parts))
	for _, p := range parts {
		if p.op != nil {
			// Outside a change set nothing can be referenced.
			po, err := planOp(p.op, nil, nil, root)
			if err != nil {
				return nil, err
			}
			units = append(units, unit{op: po})
			continue
		}
		all := map[string]bool{}
		for _, o := range p.set {
			if o.contentID != "" {
				all[o.contentID] = true
			}
		}
		earlier := map[string]bool{}
		set := make([]*planned, 0, len(p.set))
		for _, o := range p.set {
			po, err := planOp(o, earlier, all, root)
			if err != nil {
				return nil, err
			}
			set = append(set, po)
			if o.contentID != "" {
				earlier[o.contentID] = true
			}
		}
		units = append(units, unit{set: set})
	}
	return units, nil
}

// planOp checks one operation. earlier holds the Content-IDs declared
// before it in its change set, all every Content-ID of the change set.
func planOp(o *op, earlier, all map[string]bool, root *url.URL) (*planned, *apiError) {
	p := &planned{op: o}
	if name, suffix, ok := splitRef(o.target); ok {
		switch {
		case earlier[name]:
			p.ref, p.suffix = name, suffix
			// Check the rest of the URL now, with a stand-in entity, so
			// that a bad suffix is refused before anything runs.
			if _, err := resolve(root.String()+"entities(00000000-0000-0000-0000-000000000000)"+suffix, root, o.where); err != nil {
				return nil, err
			}
		case all[name] || isDigits(name):
			return nil, unknownRef(name)
		}
	}
	if p.ref == "" {
		u, err := resolve(o.target, root, o.where)
		if err != nil {
			return nil, err
		}
		p.url = u
	}
	if v, ok := decodeJSON(o); ok {
		_, err := walkBinds(v, func(name string) (string, bool, *apiError) {
			switch {
			case earlier[name]:
				p.bodyRefs = true
			case all[name] || isDigits(name):
				return "", false, unknownRef(name)
			}
			return "", false, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// splitRef splits a URL of the form $n, /$n, $n/... or $n?... into the
// Content-ID n and what follows it.
func splitRef(target string) (name, suffix string, ok bool) {
	s := strings.TrimPrefix(target, "/")
	if !strings.HasPrefix(s, "$") {
		return "", "", false
	}
	s = s[1:]
	end := strings.IndexAny(s, "/?")
	if end < 0 {
		end = len(s)
	}
	if end == 0 {
		return "", "", false
	}
	return s[:end], s[end:], true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// decodeJSON decodes the body when it is (or may be) JSON. A body that is
// not valid JSON is left to the operation itself to refuse.
func decodeJSON(o *op) (any, bool) {
	if o.body == nil {
		return nil, false
	}
	if ct := o.header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !isJSON(mt) {
			return nil, false
		}
	}
	d := json.NewDecoder(bytes.NewReader(o.body))
	d.UseNumber() // keep numbers exactly as written
	var v any
	if d.Decode(&v) != nil {
		return nil, false
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, false
	}
	return v, true
}

// walkBinds visits the string values of @odata.bind and @odata.id
// properties at any depth (deep inserts carry them in nested objects) that
// look like $name references, and replaces those for which fn says so.
func walkBinds(v any, fn func(name string) (repl string, replace bool, err *apiError)) (any, *apiError) {
	visit := func(s string) (any, *apiError) {
		if len(s) < 2 || s[0] != '$' {
			return s, nil
		}
		repl, ok, err := fn(s[1:])
		if err != nil || !ok {
			return s, err
		}
		return repl, nil
	}
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if strings.HasSuffix(k, "@odata.bind") || k == "@odata.id" {
				switch b := val.(type) {
				case string:
					r, err := visit(b)
					if err != nil {
						return nil, err
					}
					x[k] = r
					continue
				case []any: // collection-valued navigation: a list of references
					for i, e := range b {
						if s, ok := e.(string); ok {
							r, err := visit(s)
							if err != nil {
								return nil, err
							}
							b[i] = r
						}
					}
					continue
				}
			}
			r, err := walkBinds(val, fn)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
	case []any:
		for i, e := range x {
			r, err := walkBinds(e, fn)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
	}
	return v, nil
}

// substitute replaces the $n values of the body by the entity URLs the
// referenced operations answered with. The body is re-encoded, so key
// order may change; JSON objects are unordered and numbers keep their text.
func substitute(o *op, ids map[string]string) ([]byte, *apiError) {
	v, ok := decodeJSON(o)
	if !ok {
		return o.body, nil
	}
	v, err := walkBinds(v, func(name string) (string, bool, *apiError) {
		u, declared := ids[name]
		if !declared {
			return "", false, nil
		}
		if u == "" {
			return "", false, noEntity(name)
		}
		return u, true, nil
	})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return o.body, nil
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// noEntity is the answer for a reference to an operation that created
// nothing (it answered without OData-EntityId and Location).
func noEntity(name string) *apiError {
	return bad("Content-ID Reference: '$%s' does not name an entity: that operation answered without an OData-EntityId or Location header.", name)
}
