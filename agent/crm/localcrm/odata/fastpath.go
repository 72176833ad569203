package odata

import "slices"

// Some filters are answered from an index instead of by reading every row;
// these find the literal values such a filter restricts a column to. The
// full filter is still applied to what the index finds, so they only have
// to find a superset.

// AndedEq finds "<prop> eq '<literal>'" among the and-ed terms of n.
func AndedEq(n Node, prop string) (string, bool) {
	switch n := n.(type) {
	case *logicalNode:
		if n.op != "and" {
			return "", false
		}
		if m, ok := AndedEq(n.left, prop); ok {
			return m, true
		}
		return AndedEq(n.right, prop)
	case *cmpNode:
		if name, s, ok := eqLiteral(n); ok && name == prop {
			return s, true
		}
	}
	return "", false
}

// EqAnyOf finds the values a filter restricts some columns to: an or-tree
// whose every branch has "<column> eq '<text>'" for a column in cols,
// alone or and-ed with more. It reports false for any other filter.
func EqAnyOf(n Node, cols []string) ([]string, bool) {
	switch n := n.(type) {
	case *logicalNode:
		l, lok := EqAnyOf(n.left, cols)
		r, rok := EqAnyOf(n.right, cols)
		switch {
		case n.op == "or" && lok && rok:
			return append(l, r...), true
		case n.op == "and" && lok:
			return l, true
		case n.op == "and" && rok:
			return r, true
		}
	case *cmpNode:
		if name, s, ok := eqLiteral(n); ok && slices.Contains(cols, name) {
			return []string{s}, true
		}
	}
	return nil, false
}

// eqLiteral reads "<prop> eq '<text>'" in either order.
func eqLiteral(n *cmpNode) (prop, value string, ok bool) {
	if n.op != "eq" {
		return "", "", false
	}
	p, lit := n.left, n.right
	if _, isLit := p.(*litNode); isLit {
		p, lit = lit, p
	}
	pn, ok1 := p.(*propNode)
	l, ok2 := lit.(*litNode)
	if !ok1 || !ok2 {
		return "", "", false
	}
	s, ok := l.v.(string)
	return pn.name, s, ok && l.kind == litString
}
