package webapi

import (
	"net/http"
	"strings"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/odata"
	"crmsync/agent/crm/localcrm/records"
)

// attributeSchema is the AttributeMetadata of a table's columns, as far
// as this server describes them: enough for a client to find the secured
// columns ([PAD] column-level-security.md: "Detect which columns are
// secured by retrieving the definition of the column and examining the
// boolean AttributeMetadata.IsSecured property").
type attributeSchema struct{}

// attributeProps are the AttributeMetadata properties served, in answer order.
var attributeProps = []string{"LogicalName", "AttributeType", "IsSecured", "MetadataId"}

// TypeName implements odata.Schema.
func (attributeSchema) TypeName() string { return "Microsoft.Dynamics.CRM.AttributeMetadata" }

// EdmType implements odata.Schema.
func (attributeSchema) EdmType(name string) (string, bool) {
	switch name {
	case "LogicalName", "AttributeType":
		return "Edm.String", true
	case "IsSecured":
		return "Edm.Boolean", true
	case "MetadataId":
		return "Edm.Guid", true
	}
	return "", false
}

// Expandable implements odata.Schema: attributes expand nothing here.
func (attributeSchema) Expandable(string) (odata.Schema, bool, bool) { return nil, false, false }

// attributeType names a column's AttributeTypeCode and the derived
// metadata type Dataverse answers it with.
func attributeType(col *records.Column) (code, odataType string) {
	switch {
	case col.Name == "statecode":
		return "State", "StateAttributeMetadata"
	case col.Name == "statuscode":
		return "Status", "StatusAttributeMetadata"
	case col.Options != nil:
		return "Picklist", "PicklistAttributeMetadata"
	}
	switch col.Type {
	case records.TMemo:
		return "Memo", "MemoAttributeMetadata"
	case records.TBool:
		return "Boolean", "BooleanAttributeMetadata"
	case records.TInt:
		return "Integer", "IntegerAttributeMetadata"
	case records.TBigInt:
		return "BigInt", "BigIntAttributeMetadata"
	case records.TDecimal:
		return "Decimal", "DecimalAttributeMetadata"
	case records.TDateTime:
		return "DateTime", "DateTimeAttributeMetadata"
	case records.TGUID:
		return "Uniqueidentifier", "UniqueIdentifierAttributeMetadata"
	}
	return "String", "StringAttributeMetadata"
}

// entityDefinitions answers
// GET EntityDefinitions(LogicalName='<table>')/Attributes with $select,
// $filter (IsSecured eq true) and $orderby over LogicalName,
// AttributeType, IsSecured and MetadataId: every column and lookup of the
// table, each with a MetadataId that is stable per table and column. Other
// metadata requests are not served.
func (c *call) entityDefinitions(segs []odata.Segment) error {
	first := segs[0]
	if !first.Parens || len(segs) != 2 || segs[1].Name != "Attributes" || segs[1].Parens {
		return wire.Errf(http.StatusNotImplemented, wire.CodeNotSupported,
			"This server answers only EntityDefinitions(LogicalName='<table>')/Attributes, the columns of one table.")
	}
	arg := strings.TrimSpace(first.Args)
	name, ok := strings.CutPrefix(arg, "LogicalName=")
	if !ok || len(name) < 2 || name[0] != '\'' || name[len(name)-1] != '\'' {
		return wire.BadRequest("Address a table's definition as EntityDefinitions(LogicalName='<logical name>'), not '%s'.", wire.Truncate(arg, 100))
	}
	name = name[1 : len(name)-1]
	ent, ok := c.s.Cat.Logical(name)
	if !ok {
		return wire.Errf(http.StatusNotFound, wire.CodeNotFound, "Could not find entity with logical name '%s'.", wire.Truncate(name, 100))
	}
	spec, err := odata.ParseSpec(c.query, attributeSchema{}, true)
	if err != nil {
		return err
	}
	var rows []odata.Row
	var types []string
	add := func(logical, code, odataType string, secured bool) {
		rows = append(rows, odata.Row{Seq: int64(len(rows)), Index: len(rows), View: map[string]any{
			"LogicalName": logical, "AttributeType": code, "IsSecured": secured,
			"MetadataId": records.MetadataID(ent.Logical, logical),
		}})
		types = append(types, odataType)
	}
	for i := range ent.Columns {
		col := &ent.Columns[i]
		code, t := attributeType(col)
		add(col.Name, code, t, col.Secured)
	}
	for _, l := range ent.Lookups {
		code := "Lookup"
		if l.Attr == "ownerid" {
			code = "Owner"
		}
		add(l.Attr, code, "LookupAttributeMetadata", false)
	}
	page, err := spec.Page(rows, 0)
	if err != nil {
		return err
	}
	props := attributeProps
	if spec.Select != nil {
		props = spec.Select
		hasKey := false
		for _, p := range props {
			hasKey = hasKey || p == "MetadataId"
		}
		if !hasKey {
			props = append(append([]string{}, props...), "MetadataId") // the key always comes back
		}
	}
	values := make([]wire.Object, 0, len(page.Rows))
	for _, r := range page.Rows {
		o := wire.Object{{"@odata.type", "#Microsoft.Dynamics.CRM." + types[r.Index]}}
		for _, p := range props {
			o = append(o, wire.KV{p, r.View[p]})
		}
		values = append(values, o)
	}
	ctx := c.base + "$metadata#EntityDefinitions('" + ent.Logical + "')/Attributes"
	if spec.Select != nil {
		ctx += "(" + strings.Join(spec.Select, ",") + ")"
	}
	c.respond(http.StatusOK, wire.Object{{"@odata.context", ctx}, {"value", values}})
	return nil
}
