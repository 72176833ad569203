package item

import (
	"fmt"
	"time"
)

// maxSize bounds the text the codec reads: a contact or an event is a few
// KiB, and anything near a megabyte is a broken or hostile server.
const maxSize = 1 << 20

// now is the clock that stamps DTSTAMP; tests replace it.
var now = time.Now

func checkSize(data []byte, kind string) error {
	if len(data) > maxSize {
		return fmt.Errorf("item: the %s is %d bytes, more than the %d bytes this app accepts; shorten it in your address book or calendar app", kind, len(data), maxSize)
	}
	return nil
}

// ownedSet turns the owned field list into a set.
func ownedSet(owned []string) map[string]bool {
	m := make(map[string]bool, len(owned))
	for _, k := range owned {
		m[k] = true
	}
	return m
}

// effective is the value a field will have after encoding: v's for an
// owned field, prev's otherwise.
func effective(own map[string]bool, v, prev Values, key string) string {
	if own[key] {
		return canonField(key, v[key])
	}
	return prev[key]
}

// canonField is the canonical form of a value of the field key, the form
// decoding produces, so that comparing it with a decoded value says
// whether the field changed.
func canonField(key, s string) string {
	switch key {
	case fOrganizer:
		if ps := parsePeople(s); len(ps) > 0 {
			return formatPeople(ps[:1]) // there is one organizer
		}
		return ""
	case fRequired, fOptional:
		// not canon: its TrimSpace would eat the tab of a last
		// attendee without a name
		return formatPeople(parsePeople(s))
	}
	return canon(s)
}
