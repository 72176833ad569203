package odata

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"crmsync/agent/crm/localcrm/internal/wire"
)

// The $filter language: a recursive-descent parser producing a small AST
// that is evaluated in Go against a record's column map. Input length and
// nesting depth are bounded so a hostile URL cannot exhaust the stack.
const (
	maxFilterLen   = 16 << 10
	maxFilterDepth = 100
)

// litKind tells literal values apart where the type checker needs to.
type litKind int

const (
	litNull litKind = iota
	litString
	litNumber
	litBool
	litGUID
	litDateTime
)

// Node is a parsed $filter expression. Its String form is OData text that
// parses to the same expression.
type Node interface {
	String() string
}

// node is the package's name for Node.
type node = Node

type logicalNode struct {
	op          string // "and" or "or"
	left, right node
}

type notNode struct{ x node }

type cmpNode struct {
	op          string // eq ne gt ge lt le
	left, right node
}

type funcNode struct {
	name string // contains, startswith, endswith
	args []node
	pat  likePattern // compiled from a literal second argument; nil otherwise
}

type propNode struct{ name string }

type litNode struct {
	kind litKind
	v    any // nil, string, float64 or bool; GUIDs lower-case, dates normalised
}

// String writes the node as OData text.
func (n *logicalNode) String() string {
	return "(" + n.left.String() + " " + n.op + " " + n.right.String() + ")"
}

// String writes the node as OData text.
func (n *notNode) String() string { return "(not " + n.x.String() + ")" }

// String writes the node as OData text.
func (n *cmpNode) String() string {
	return "(" + n.left.String() + " " + n.op + " " + n.right.String() + ")"
}

// String writes the node as OData text.
func (n *funcNode) String() string {
	parts := make([]string, len(n.args))
	for i, a := range n.args {
		parts[i] = a.String()
	}
	return n.name + "(" + strings.Join(parts, ",") + ")"
}

// String writes the node as OData text.
func (n *propNode) String() string { return n.name }

// String writes the node as OData text.
func (n *litNode) String() string {
	switch n.kind {
	case litNull:
		return "null"
	case litString:
		return "'" + strings.ReplaceAll(n.v.(string), "'", "''") + "'"
	case litNumber:
		return strconv.FormatFloat(n.v.(float64), 'g', -1, 64)
	case litBool:
		return strconv.FormatBool(n.v.(bool))
	default: // GUIDs and dates print bare
		return n.v.(string)
	}
}

var comparisonOps = map[string]bool{"eq": true, "ne": true, "gt": true, "ge": true, "lt": true, "le": true}

var filterFuncs = map[string]bool{"contains": true, "startswith": true, "endswith": true}

// token kinds of the lexer.
type tokKind int

const (
	tkEOF    tokKind = iota
	tkWord           // identifiers, keywords, bare GUIDs, numbers and dates
	tkString         // a quoted string, already unescaped
	tkAlias          // @name
	tkLParen
	tkRParen
	tkComma
)

type token struct {
	kind tokKind
	text string
	pos  int
}

// filterParser holds the lexer state and the alias table.
type filterParser struct {
	src     string
	toks    []token
	i       int
	aliases map[string]string // "@p1" -> raw alias text
	inAlias bool              // aliases may not refer to other aliases
}

// ParseFilter parses a $filter value. aliases maps "@name" to the text of
// the alias, as sent in the query string. The string functions' patterns
// are compiled here, so a bad one is an error of the request.
func ParseFilter(src string, aliases map[string]string) (node, error) {
	if len(src) > maxFilterLen {
		return nil, fmt.Errorf("the $filter expression is longer than %d characters", maxFilterLen)
	}
	if !utf8.ValidString(src) {
		return nil, fmt.Errorf("the $filter expression is not valid UTF-8")
	}
	p := &filterParser{src: src, aliases: aliases}
	toks, err := lexFilter(src)
	if err != nil {
		return nil, err
	}
	p.toks = toks
	n, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tkEOF {
		return nil, fmt.Errorf("syntax error at position %d in '%s': unexpected '%s'", t.pos, src, t.text)
	}
	return n, nil
}

func lexFilter(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			toks = append(toks, token{tkLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tkRParen, ")", i})
			i++
		case c == ',':
			toks = append(toks, token{tkComma, ",", i})
			i++
		case c == '\'':
			start := i
			var b strings.Builder
			i++
			closed := false
			for i < len(src) {
				if src[i] == '\'' {
					if i+1 < len(src) && src[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(src[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated string literal at position %d in '%s'", start, src)
			}
			toks = append(toks, token{tkString, b.String(), start})
		case c == '@':
			start := i
			i++
			for i < len(src) && isWordByte(src[i]) {
				i++
			}
			if i == start+1 {
				return nil, fmt.Errorf("syntax error at position %d in '%s': '@' must start a parameter alias", start, src)
			}
			toks = append(toks, token{tkAlias, src[start:i], start})
		case isWordByte(c) || c == '-':
			start := i
			i++
			for i < len(src) && (isWordByte(src[i]) || src[i] == '-' || src[i] == ':' || src[i] == '/' ||
				(src[i] == '+' && (src[i-1] == 'e' || src[i-1] == 'E' || isDigit(src[i-1])))) {
				i++
			}
			toks = append(toks, token{tkWord, src[start:i], start})
		default:
			r, _ := utf8.DecodeRuneInString(src[i:])
			return nil, fmt.Errorf("syntax error at position %d in '%s': unexpected character '%c'", i, src, r)
		}
	}
	return append(toks, token{tkEOF, "", len(src)}), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordByte(c byte) bool {
	return c == '_' || c == '.' || isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func (p *filterParser) peek() token { return p.toks[p.i] }

func (p *filterParser) next() token {
	t := p.toks[p.i]
	if t.kind != tkEOF {
		p.i++
	}
	return t
}

func (p *filterParser) tooDeep(depth int) error {
	if depth > maxFilterDepth {
		return fmt.Errorf("the $filter expression is nested more than %d levels deep", maxFilterDepth)
	}
	return nil
}

func (p *filterParser) isKeyword(word string) bool {
	t := p.peek()
	return t.kind == tkWord && t.text == word
}

func (p *filterParser) parseOr(depth int) (node, error) {
	left, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	for p.isKeyword("or") {
		p.next()
		right, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		left = &logicalNode{op: "or", left: left, right: right}
	}
	return left, nil
}

func (p *filterParser) parseAnd(depth int) (node, error) {
	left, err := p.parseUnary(depth)
	if err != nil {
		return nil, err
	}
	for p.isKeyword("and") {
		p.next()
		right, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		left = &logicalNode{op: "and", left: left, right: right}
	}
	return left, nil
}

func (p *filterParser) parseUnary(depth int) (node, error) {
	if err := p.tooDeep(depth); err != nil {
		return nil, err
	}
	if p.isKeyword("not") {
		p.next()
		x, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &notNode{x: x}, nil
	}
	left, err := p.parsePrimary(depth)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind == tkWord && comparisonOps[t.text] {
		p.next()
		right, err := p.parsePrimary(depth)
		if err != nil {
			return nil, err
		}
		return &cmpNode{op: t.text, left: left, right: right}, nil
	}
	return left, nil
}

func (p *filterParser) parsePrimary(depth int) (node, error) {
	if err := p.tooDeep(depth); err != nil {
		return nil, err
	}
	t := p.next()
	switch t.kind {
	case tkLParen:
		n, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tkRParen {
			return nil, fmt.Errorf("syntax error at position %d in '%s': ')' expected", c.pos, p.src)
		}
		return n, nil
	case tkString:
		return &litNode{kind: litString, v: t.text}, nil
	case tkAlias:
		return p.resolveAlias(t)
	case tkWord:
		if p.peek().kind == tkLParen {
			return p.parseCall(t, depth)
		}
		return wordNode(t, p.src)
	case tkEOF:
		return nil, fmt.Errorf("syntax error: the $filter expression '%s' ends too early", p.src)
	default:
		return nil, fmt.Errorf("syntax error at position %d in '%s': unexpected '%s'", t.pos, p.src, t.text)
	}
}

func (p *filterParser) parseCall(name token, depth int) (node, error) {
	if !filterFuncs[name.text] {
		return nil, fmt.Errorf("the function '%s' is not supported in $filter here; use contains, startswith or endswith", name.text)
	}
	p.next() // (
	fn := &funcNode{name: name.text}
	for {
		arg, err := p.parsePrimary(depth + 1)
		if err != nil {
			return nil, err
		}
		fn.args = append(fn.args, arg)
		if len(fn.args) > 2 {
			break
		}
		if p.peek().kind != tkComma {
			break
		}
		p.next()
	}
	if c := p.next(); c.kind != tkRParen {
		return nil, fmt.Errorf("syntax error at position %d in '%s': ')' expected after the arguments of %s", c.pos, p.src, name.text)
	}
	if len(fn.args) != 2 {
		return nil, fmt.Errorf("the function '%s' takes 2 arguments, got %d", name.text, len(fn.args))
	}
	// The argument is a LIKE pattern; a bad one is the client's error, so
	// it is found now (a 400) rather than silently matching nothing.
	if lit, ok := fn.args[1].(*litNode); ok && lit.kind == litString {
		pat, err := functionPattern(fn.name, lit.v.(string))
		if err != nil {
			return nil, err
		}
		fn.pat = pat
	}
	return fn, nil
}

// resolveAlias parses the text of a parameter alias as a single operand.
func (p *filterParser) resolveAlias(t token) (node, error) {
	if p.inAlias {
		return nil, fmt.Errorf("the parameter alias '%s' may not refer to another alias", t.text)
	}
	raw, ok := p.aliases[t.text]
	if !ok {
		return nil, fmt.Errorf("the parameter alias '%s' is used in $filter but has no value in the query string", t.text)
	}
	sub := &filterParser{src: raw, aliases: p.aliases, inAlias: true}
	toks, err := lexFilter(raw)
	if err != nil {
		return nil, fmt.Errorf("parameter alias %s: %w", t.text, err)
	}
	sub.toks = toks
	n, err := sub.parsePrimary(maxFilterDepth)
	if err != nil {
		return nil, fmt.Errorf("parameter alias %s: %w", t.text, err)
	}
	if sub.peek().kind != tkEOF {
		return nil, fmt.Errorf("parameter alias %s must hold a single value", t.text)
	}
	return n, nil
}

// wordNode turns a bare word into a keyword literal, number, GUID, date or
// property reference.
func wordNode(t token, src string) (node, error) {
	w := t.text
	switch w {
	case "null":
		return &litNode{kind: litNull}, nil
	case "true":
		return &litNode{kind: litBool, v: true}, nil
	case "false":
		return &litNode{kind: litBool, v: false}, nil
	}
	if comparisonOps[w] || w == "and" || w == "or" || w == "not" {
		return nil, fmt.Errorf("syntax error at position %d in '%s': an operand is expected before '%s'", t.pos, src, w)
	}
	if g, ok := wire.ParseGUID(w); ok {
		return &litNode{kind: litGUID, v: g}, nil
	}
	c := w[0]
	if isDigit(c) || c == '-' {
		if d, ok := wire.ParseDateLiteral(w); ok {
			return &litNode{kind: litDateTime, v: d}, nil
		}
		num := strings.TrimRight(w, "mMdDfFlL") // OData type suffixes: 1.5m, 2d, 3L
		digits := strings.TrimPrefix(num, "-")
		// Only plain decimal notation: ParseFloat would also take "infinity",
		// hex floats and underscores, none of which OData has.
		if digits != "" && isDigit(digits[0]) && !strings.ContainsAny(num, "xXpP_nN") {
			if f, err := strconv.ParseFloat(num, 64); err == nil {
				return &litNode{kind: litNumber, v: f}, nil
			}
		}
		return nil, fmt.Errorf("syntax error at position %d in '%s': '%s' is not a valid literal", t.pos, src, w)
	}
	if strings.Contains(w, "/") {
		return nil, fmt.Errorf("the property path '%s' is not supported in $filter here; filter on the record's own columns", w)
	}
	if strings.Contains(w, ":") || strings.Contains(w, "-") || strings.HasPrefix(w, ".") {
		return nil, fmt.Errorf("syntax error at position %d in '%s': '%s' is not a property name", t.pos, src, w)
	}
	return &propNode{name: w}, nil
}
