package odata

import (
	"fmt"
	"strings"
)

// Type checking. Types are the EDM type names Dataverse reports.

// filterTypes tells the checker a column's EDM type.
type filterTypes func(name string) (edm string, ok bool)

// CheckFilter verifies property names and operand types against the
// table's columns (types gives a column's EDM type name), so a typo in a
// column name is a 400 and not an empty result.
func CheckFilter(n node, types filterTypes, entityType string) error {
	t, err := typeOf(n, types, entityType)
	if err != nil {
		return err
	}
	if t != "Edm.Boolean" {
		return fmt.Errorf("the $filter expression must evaluate to true or false, but '%s' is of type '%s'", n, t)
	}
	return nil
}

func typeOf(n node, types filterTypes, entityType string) (string, error) {
	switch n := n.(type) {
	case *litNode:
		switch n.kind {
		case litNull:
			return "", nil
		case litString:
			return "Edm.String", nil
		case litNumber:
			if f := n.v.(float64); f == float64(int64(f)) {
				return "Edm.Int32", nil
			}
			return "Edm.Decimal", nil
		case litBool:
			return "Edm.Boolean", nil
		case litGUID:
			return "Edm.Guid", nil
		default:
			return "Edm.DateTimeOffset", nil
		}
	case *propNode:
		t, ok := types(n.name)
		if !ok {
			//lint:ignore ST1005 Dataverse's own message, word for word: clients may show it
			return "", fmt.Errorf("Could not find a property named '%s' on type '%s'.", n.name, entityType)
		}
		return t, nil
	case *notNode:
		t, err := typeOf(n.x, types, entityType)
		if err != nil {
			return "", err
		}
		if t != "Edm.Boolean" {
			return "", fmt.Errorf("the operand of 'not' must be true or false, but '%s' is of type '%s'", n.x, t)
		}
		return "Edm.Boolean", nil
	case *logicalNode:
		for _, side := range []node{n.left, n.right} {
			t, err := typeOf(side, types, entityType)
			if err != nil {
				return "", err
			}
			if t != "Edm.Boolean" {
				return "", fmt.Errorf("the operands of '%s' must be true or false, but '%s' is of type '%s'", n.op, side, t)
			}
		}
		return "Edm.Boolean", nil
	case *cmpNode:
		lt, err := typeOf(n.left, types, entityType)
		if err != nil {
			return "", err
		}
		rt, err := typeOf(n.right, types, entityType)
		if err != nil {
			return "", err
		}
		if !compatible(lt, rt) {
			//lint:ignore ST1005 Dataverse's own message, word for word: clients may show it
			return "", fmt.Errorf("A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind '%s'.", lt, rt, opKindName(n.op))
		}
		return "Edm.Boolean", nil
	case *funcNode:
		for _, a := range n.args {
			t, err := typeOf(a, types, entityType)
			if err != nil {
				return "", err
			}
			if t != "Edm.String" && t != "" {
				return "", fmt.Errorf("the arguments of %s must be strings, but '%s' is of type '%s'", n.name, a, t)
			}
		}
		return "Edm.Boolean", nil
	}
	return "", fmt.Errorf("unsupported $filter expression")
}

func opKindName(op string) string {
	return map[string]string{"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan",
		"ge": "GreaterThanOrEqual", "lt": "LessThan", "le": "LessThanOrEqual"}[op]
}

func isNumeric(t string) bool {
	return t == "Edm.Int32" || t == "Edm.Int64" || t == "Edm.Decimal" || t == "Edm.Double"
}

// compatible reports whether two operand types may be compared. A quoted
// GUID is accepted for GUID columns, as the Dataverse docs write it so.
func compatible(a, b string) bool {
	switch {
	case a == "" || b == "" || a == b:
		return true
	case isNumeric(a) && isNumeric(b):
		return true
	case (a == "Edm.Guid" && b == "Edm.String") || (a == "Edm.String" && b == "Edm.Guid"):
		return true
	}
	return false
}

// Evaluation.

// EvalFilter reports whether the record matches. rec maps column names to
// nil, string, float64 or bool.
func EvalFilter(n node, rec map[string]any) bool {
	v, _ := evalNode(n, rec).(bool)
	return v
}

func evalNode(n node, rec map[string]any) any {
	switch n := n.(type) {
	case *litNode:
		return n.v
	case *propNode:
		return rec[n.name]
	case *notNode:
		b, _ := evalNode(n.x, rec).(bool)
		return !b
	case *logicalNode:
		l, _ := evalNode(n.left, rec).(bool)
		if n.op == "and" {
			if !l {
				return false
			}
		} else if l {
			return true
		}
		r, _ := evalNode(n.right, rec).(bool)
		return r
	case *cmpNode:
		return compareOp(n.op, evalNode(n.left, rec), evalNode(n.right, rec))
	case *funcNode:
		if len(n.args) != 2 {
			return false
		}
		a, ok1 := evalNode(n.args[0], rec).(string)
		b, ok2 := evalNode(n.args[1], rec).(string)
		if !ok1 || !ok2 {
			return false
		}
		pat := n.pat
		if pat == nil {
			// The pattern is a column's value: compiled per row, and a
			// value that is no valid pattern matches nothing.
			var err error
			if pat, err = functionPattern(n.name, b); err != nil {
				return false
			}
		}
		return pat.match(a)
	}
	return false
}

// compareOp follows OData's null rules: null equals only null, and any
// ordering comparison with null is false.
func compareOp(op string, l, r any) bool {
	if l == nil || r == nil {
		switch op {
		case "eq":
			return l == nil && r == nil
		case "ne":
			return !(l == nil && r == nil)
		}
		return false
	}
	c, ok := CompareValues(l, r)
	if !ok {
		return op == "ne"
	}
	switch op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}

// CompareValues orders two non-nil values of the same kind; strings compare
// without regard to case, as all Dataverse string comparisons do. ok is
// false for values of different kinds.
func CompareValues(l, r any) (int, bool) {
	switch a := l.(type) {
	case string:
		b, ok := r.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(strings.ToLower(a), strings.ToLower(b)), true
	case float64:
		b, ok := r.(float64)
		if !ok {
			return 0, false
		}
		switch {
		case a < b:
			return -1, true
		case a > b:
			return 1, true
		}
		return 0, true
	case bool:
		b, ok := r.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case a == b:
			return 0, true
		case !a:
			return -1, true
		}
		return 1, true
	}
	return 0, false
}
