package odata

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Dataverse runs contains, startswith and endswith as T-SQL LIKE, so their
// argument is a pattern ([PAD] wildcard-characters.md): % matches any run
// of characters, _ one character, [abc] or [a-c] one character of a set,
// [^abc] one character not in it. A wildcard character is matched
// literally by enclosing it in brackets: [%], [_], [[].

// likeKind is the kind of one pattern element.
type likeKind int

const (
	likeChar likeKind = iota // one given character
	likeOne                  // _: any one character
	likeAny                  // %: any run of characters, empty included
	likeSet                  // [...] or [^...]: one character of (or not of) a set
)

// likeElem is one element of a compiled pattern.
type likeElem struct {
	kind   likeKind
	r      rune        // likeChar
	ranges []runeRange // likeSet; a single character is a range of one
	negate bool        // likeSet with ^
}

type runeRange struct{ lo, hi rune }

// likePattern is a compiled LIKE pattern; it matches whole strings.
type likePattern []likeElem

// compileLike compiles a pattern. Matching ignores case, as every
// Dataverse string comparison does, so the pattern is lower-cased here and
// the text at match time.
func compileLike(p string) (likePattern, error) {
	p = strings.ToLower(p)
	var out likePattern
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRuneInString(p[i:])
		switch r {
		case '%':
			// Runs of % mean the same as one, and one keeps matching linear.
			if len(out) == 0 || out[len(out)-1].kind != likeAny {
				out = append(out, likeElem{kind: likeAny})
			}
			i += size
		case '_':
			out = append(out, likeElem{kind: likeOne})
			i += size
		case '[':
			el, n, err := compileSet(p[i:])
			if err != nil {
				return nil, err
			}
			out = append(out, el)
			i += n
		default:
			out = append(out, likeElem{kind: likeChar, r: r})
			i += size
		}
	}
	return out, nil
}

// compileSet reads a bracket expression at the start of p and returns it
// with its length in bytes. The first ']' after the opening bracket (and
// an optional '^') ends it, so "[[]" is the set holding '['.
func compileSet(p string) (likeElem, int, error) {
	el := likeElem{kind: likeSet}
	body := p[1:]
	if strings.HasPrefix(body, "^") {
		el.negate = true
		body = body[1:]
	}
	end := strings.IndexByte(body, ']')
	if end < 0 {
		return el, 0, fmt.Errorf("the pattern '%s' has a '[' without its ']'; to match a '[' itself write [[]", p)
	}
	if end == 0 {
		return el, 0, fmt.Errorf("the pattern '%s' has an empty set '[]'", p)
	}
	rs := []rune(body[:end])
	for i := 0; i < len(rs); i++ {
		// A '-' between two characters is a range; first or last it is itself.
		if i+2 < len(rs) && rs[i+1] == '-' {
			lo, hi := rs[i], rs[i+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			el.ranges = append(el.ranges, runeRange{lo, hi})
			i += 2
			continue
		}
		el.ranges = append(el.ranges, runeRange{rs[i], rs[i]})
	}
	return el, len(p) - len(body) + end + 1, nil
}

// matchOne reports whether a single-character element matches r.
func (e *likeElem) matchOne(r rune) bool {
	switch e.kind {
	case likeChar:
		return e.r == r
	case likeOne:
		return true
	case likeSet:
		in := false
		for _, rg := range e.ranges {
			if r >= rg.lo && r <= rg.hi {
				in = true
				break
			}
		}
		return in != e.negate
	}
	return false
}

// match reports whether the whole of s matches. It backtracks only to the
// last %, so the time is at most the product of the two lengths.
func (p likePattern) match(s string) bool {
	text := []rune(strings.ToLower(s))
	ti, pi := 0, 0
	star, starText := -1, 0
	for ti < len(text) {
		switch {
		case pi < len(p) && p[pi].kind == likeAny:
			star, starText = pi, ti
			pi++
		case pi < len(p) && p[pi].matchOne(text[ti]):
			pi++
			ti++
		case star >= 0:
			starText++
			ti, pi = starText, star+1
		default:
			return false
		}
	}
	for pi < len(p) && p[pi].kind == likeAny {
		pi++
	}
	return pi == len(p)
}

// functionPattern builds the whole-string pattern of a string function
// from its argument: contains(x,'a') is LIKE '%a%', startswith '%a' is
// LIKE 'a%', endswith is LIKE '%a'. Wildcards that stand at the free end
// ("trailing wildcards", startswith(x,'%a') or endswith(x,'a%')) are
// refused: Microsoft's page says they are not supported, and a client
// must not depend on them working.
func functionPattern(fn, arg string) (likePattern, error) {
	inner, err := compileLike(arg)
	if err != nil {
		return nil, err
	}
	anyElem := likeElem{kind: likeAny}
	switch fn {
	case "startswith":
		if len(inner) > 0 && inner[0].kind == likeAny {
			return nil, fmt.Errorf("startswith(...,'%s') starts with the wildcard %%, a trailing wildcard, which Dataverse does not support; use contains", arg)
		}
		return append(inner, anyElem), nil
	case "endswith":
		if len(inner) > 0 && inner[len(inner)-1].kind == likeAny {
			return nil, fmt.Errorf("endswith(...,'%s') ends with the wildcard %%, a trailing wildcard, which Dataverse does not support; use contains", arg)
		}
		return append(likePattern{anyElem}, inner...), nil
	}
	return append(append(likePattern{anyElem}, inner...), anyElem), nil
}

// LikeMatcher compiles a whole T-SQL LIKE pattern, as FetchXML's like and
// not-like operators take it ("%contoso%"), into a matcher that ignores
// case. A pattern with an unclosed '[' is an error.
func LikeMatcher(pattern string) (func(string) bool, error) {
	p, err := compileLike(pattern)
	if err != nil {
		return nil, err
	}
	return p.match, nil
}
