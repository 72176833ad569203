package compose

import (
	"fmt"
	"net/mail"
	"strings"
)

// maxAddr is the longest address SMTP carries (RFC 5321's 254 octets);
// bounding it also keeps each header token far below the line limit.
const maxAddr = 254

// addressList is the tokens of an address list header: each mailbox as
// its name's tokens then "<addr>", a comma after all but the last.
func addressList(field string, list []Address) ([]string, error) {
	var tokens []string
	for i, a := range list {
		addr, err := checkAddr(a.Addr)
		if err != nil {
			if len(list) > 1 {
				return nil, fmt.Errorf("%s address %d: %w", field, i+1, err)
			}
			return nil, fmt.Errorf("%s address: %w", field, err)
		}
		tokens = append(tokens, nameTokens(cleanText(a.Name))...)
		angle := (&mail.Address{Address: addr}).String()
		if i < len(list)-1 {
			angle += ","
		}
		tokens = append(tokens, angle)
	}
	return tokens, nil
}

// checkAddr returns the address as net/mail reads it, refusing an empty
// or overlong one, one with white space or a control character (so no
// line break can reach a header) and anything but a bare addr-spec (a
// "Name <addr>" in the address field).
func checkAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("the address is empty")
	case len(s) > maxAddr:
		return "", fmt.Errorf("the address %q is longer than %d characters", s[:40]+"…", maxAddr)
	case strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == 0xfffd }) >= 0:
		return "", fmt.Errorf("the address %q holds a space, line break or control character", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("the address %q is not an email address: %w", s, err)
	}
	if a.Name != "" {
		return "", fmt.Errorf("the address %q holds a name; pass the name separately", s)
	}
	return a.Address, nil
}
