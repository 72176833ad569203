package odata

import (
	"encoding/json"
	"strconv"
	"strings"

	"crmsync/agent/crm/localcrm/internal/wire"
)

// Function parameters.

// ParseFuncArgs parses "Name=value,Name=@alias" inside a function call's
// parentheses. Values are OData literals: 'text' (with ” for a quote),
// numbers, true, false, null, GUIDs, or a JSON object such as
// {'@odata.id':'emails(<guid>)'} (single or double quotes).
func ParseFuncArgs(s string, aliases map[string]string) (map[string]any, error) {
	args := map[string]any{}
	if strings.TrimSpace(s) == "" {
		return args, nil
	}
	for _, part := range splitArgs(s) {
		name, raw, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, wire.BadRequest("The function parameter '%s' is not of the form Name=value.", wire.Truncate(part, 100))
		}
		if _, dup := args[name]; dup {
			return nil, wire.BadRequest("The function parameter '%s' is given more than once.", name)
		}
		raw = strings.TrimSpace(raw)
		if strings.HasPrefix(raw, "@") {
			a, ok := aliases[raw]
			if !ok {
				return nil, wire.BadRequest("The parameter alias '%s' has no value in the query string.", raw)
			}
			raw = strings.TrimSpace(a)
		}
		v, err := parseArgLiteral(raw)
		if err != nil {
			return nil, wire.BadRequest("The value of the function parameter '%s' is not valid: %v", name, err)
		}
		args[name] = v
	}
	return args, nil
}

// splitArgs splits on commas outside quotes, parentheses, brackets and braces.
func splitArgs(s string) []string {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '(' || ch == '[' || ch == '{':
			depth++
		case ch == ')' || ch == ']' || ch == '}':
			depth--
		case ch == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

type argError string

// Error returns the message.
func (e argError) Error() string { return string(e) }

func parseArgLiteral(raw string) (any, error) {
	switch {
	case raw == "null":
		return nil, nil
	case raw == "true":
		return true, nil
	case raw == "false":
		return false, nil
	case strings.HasPrefix(raw, "'"):
		if len(raw) < 2 || !strings.HasSuffix(raw, "'") {
			return nil, argError("unterminated string literal")
		}
		inner := raw[1 : len(raw)-1]
		if strings.Count(inner, "'")%2 != 0 || strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
			return nil, argError("a quote inside a string literal must be doubled ('')")
		}
		return strings.ReplaceAll(inner, "''", "'"), nil
	case strings.HasPrefix(raw, "{"):
		var obj map[string]any
		if err := json.Unmarshal([]byte(singleToDoubleQuotes(raw)), &obj); err != nil {
			return nil, argError("not a valid JSON object")
		}
		return obj, nil
	}
	if g, ok := wire.ParseGUID(raw); ok {
		return g, nil
	}
	if f, err := strconv.ParseFloat(raw, 64); err == nil {
		return f, nil
	}
	return nil, argError("'" + wire.Truncate(raw, 60) + "' is not a literal; quote strings as 'text'")
}

// singleToDoubleQuotes rewrites OData-style single-quoted strings in an
// object literal into JSON strings.
func singleToDoubleQuotes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			// Already JSON: copy the string through, escapes included.
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			end := min(j+1, len(s))
			b.WriteString(s[i:end])
			i = end - 1
		case '\'':
			var v strings.Builder
			j := i + 1
			for j < len(s) {
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						v.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				v.WriteByte(s[j])
				j++
			}
			q, _ := json.Marshal(v.String())
			b.Write(q)
			i = j
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
