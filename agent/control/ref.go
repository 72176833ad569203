package control

import (
	"errors"
	"fmt"
	"strings"

	"crmsync/agent"
)

// maxKeyBytes matches the longest file name Linux file systems allow; a
// Maildir key is a file name without its flags.
const maxKeyBytes = 255

// Entities lists the CRM tables a message may be regarding, as the
// command line spells them.
const Entities = "contact, account, opportunity or incident"

// validateKey checks a message key before it reaches the engine. The key
// later names a file in the Maildir, so anything that could step out of a
// folder is refused here, at the edge.
func validateKey(k string) error {
	switch {
	case k == "":
		return errors.New("a message key is required")
	case len(k) > maxKeyBytes:
		return fmt.Errorf("message key is too long (%d bytes; at most %d)", len(k), maxKeyBytes)
	case strings.ContainsAny(k, "/\x00"):
		return errors.New("message key must not contain '/' or NUL")
	case k == "." || k == "..":
		return fmt.Errorf("%q is not a message key", k)
	}
	return nil
}

// validEntity reports whether e is a table a message may be regarding.
func validEntity(e string) bool {
	switch e {
	case "contact", "account", "opportunity", "incident":
		return true
	}
	return false
}

// isGUID reports whether s is a GUID in its canonical 8-4-4-4-12 form.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// validateRef checks a regarding record as it arrives on the wire.
func validateRef(entity, id string) error {
	if !validEntity(entity) {
		if entity == "" {
			return fmt.Errorf("a regarding record needs an entity (%s)", Entities)
		}
		return fmt.Errorf("%q cannot be a regarding record; use %s", clip(entity, 40), Entities)
	}
	if !isGUID(id) {
		if id == "" {
			return errors.New("a regarding record needs an id")
		}
		return fmt.Errorf("%q is not a record id; expected a GUID like 00000000-0000-0000-0000-000000000000", clip(id, 40))
	}
	return nil
}

// ParseRecordRef parses the command line's ENTITY:GUID argument, for
// example "contact:6f1c3e0a-8d3b-4c6e-9a57-2a4c1d1e0b11". The entity is
// case-insensitive and "case" is accepted for incident; the GUID may be
// wrapped in braces as the CRM's own pages show it. The result is in the
// canonical form the agent expects: lower-case entity and GUID. Its errors
// are sentences for the user, without a package prefix, since the command
// line prints them as they are.
func ParseRecordRef(s string) (agent.RecordRef, error) {
	entity, id, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return agent.RecordRef{}, fmt.Errorf("%q is not ENTITY:GUID (for example contact:00000000-0000-0000-0000-000000000000)", clip(s, 60))
	}
	entity = strings.ToLower(strings.TrimSpace(entity))
	if entity == "case" {
		entity = "incident"
	}
	id = strings.TrimSpace(id)
	if strings.HasPrefix(id, "{") && strings.HasSuffix(id, "}") {
		id = id[1 : len(id)-1]
	}
	id = strings.ToLower(id)
	if err := validateRef(entity, id); err != nil {
		return agent.RecordRef{}, err
	}
	return agent.RecordRef{Entity: entity, ID: id}, nil
}

// clip shortens untrusted text quoted back in an error, so that a huge
// argument does not become a huge message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
