package webapi

import (
	"encoding/xml"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/records"
)

// serviceDocument answers GET <base>/: the entity sets.
func (c *call) serviceDocument() error {
	sets := c.s.Cat.Sets()
	value := make([]wire.Object, 0, len(sets))
	for _, s := range sets {
		value = append(value, wire.Object{{"name", s}, {"kind", "EntitySet"}, {"url", s}})
	}
	c.respond(http.StatusOK, wire.Object{{"@odata.context", c.base + "$metadata"}, {"value", value}})
	return nil
}

// metadata answers GET <base>/$metadata with a CSDL document describing
// the tables and operations this server implements.
func (c *call) metadata() error {
	var b strings.Builder
	esc := func(s string) string {
		var x strings.Builder
		_ = xml.EscapeText(&x, []byte(s))
		return x.String()
	}
	b.WriteString(xml.Header)
	b.WriteString(`<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">` + "\n")
	b.WriteString(`<edmx:DataServices><Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">` + "\n")
	sets := c.s.Cat.Sets()
	for _, s := range sets {
		e, _ := c.s.Cat.Set(s)
		b.WriteString(`<EntityType Name="` + e.Logical + `"><Key><PropertyRef Name="` + e.Key + `"/></Key>`)
		for _, col := range e.Columns {
			b.WriteString(`<Property Name="` + col.Name + `" Type="` + col.Type.Edm() + `"`)
			if col.MaxLen > 0 && col.Type != records.TMemo {
				b.WriteString(` MaxLength="` + strconv.Itoa(col.MaxLen) + `"`)
			}
			b.WriteString(`/>`)
		}
		for _, l := range e.Lookups {
			b.WriteString(`<Property Name="` + l.ValueName() + `" Type="Edm.Guid"/>`)
			navs := make([]string, 0, len(l.Navs))
			for n := range l.Navs {
				navs = append(navs, n)
			}
			sort.Strings(navs)
			for _, n := range navs {
				t := l.Navs[n]
				if t == "" {
					t = l.Targets[0]
				}
				b.WriteString(`<NavigationProperty Name="` + esc(n) + `" Type="mscrm.` + t + `"/>`)
			}
		}
		if e.PartyNav != "" {
			b.WriteString(`<NavigationProperty Name="` + e.PartyNav + `" Type="Collection(mscrm.activityparty)"/>`)
		}
		b.WriteString("</EntityType>\n")
	}
	b.WriteString(`<EntityType Name="activityparty"><Key><PropertyRef Name="activitypartyid"/></Key>` +
		`<Property Name="activitypartyid" Type="Edm.Guid"/><Property Name="participationtypemask" Type="Edm.Int32"/>` +
		`<Property Name="addressused" Type="Edm.String" MaxLength="320"/><Property Name="unresolvedpartyname" Type="Edm.String" MaxLength="200"/>` +
		`<Property Name="ispartydeleted" Type="Edm.Boolean"/><Property Name="_partyid_value" Type="Edm.Guid"/>` +
		`<Property Name="_activityid_value" Type="Edm.Guid"/></EntityType>` + "\n")
	b.WriteString(`<ComplexType Name="WhoAmIResponse"><Property Name="BusinessUnitId" Type="Edm.Guid" Nullable="false"/>` +
		`<Property Name="UserId" Type="Edm.Guid" Nullable="false"/><Property Name="OrganizationId" Type="Edm.Guid" Nullable="false"/></ComplexType>` + "\n")
	b.WriteString(`<Function Name="WhoAmI"><ReturnType Type="mscrm.WhoAmIResponse" Nullable="false"/></Function>` + "\n")
	for _, f := range []string{
		`<Function Name="CheckIncomingEmail"><Parameter Name="MessageId" Type="Edm.String" Nullable="false"/><Parameter Name="Subject" Type="Edm.String"/><Parameter Name="From" Type="Edm.String"/><Parameter Name="To" Type="Edm.String"/><Parameter Name="Cc" Type="Edm.String"/><Parameter Name="Bcc" Type="Edm.String"/></Function>`,
		`<Function Name="CheckPromoteEmail"><Parameter Name="MessageId" Type="Edm.String" Nullable="false"/><Parameter Name="Subject" Type="Edm.String"/><Parameter Name="DirectionCode" Type="Edm.Int32"/></Function>`,
		`<Function Name="RetrieveUserPrivilegeByPrivilegeName" IsBound="true"><Parameter Name="entity" Type="mscrm.systemuser" Nullable="false"/><Parameter Name="PrivilegeName" Type="Edm.String" Nullable="false"/></Function>`,
		`<Function Name="RetrieveUserPrivileges" IsBound="true"><Parameter Name="entity" Type="mscrm.systemuser" Nullable="false"/></Function>`,
		`<Function Name="RetrievePrincipalAccess" IsBound="true"><Parameter Name="entity" Type="mscrm.systemuser" Nullable="false"/><Parameter Name="Target" Type="mscrm.crmbaseentity" Nullable="false"/></Function>`,
		`<ComplexType Name="AttributePrivilege"><Property Name="AttributeId" Type="Edm.Guid"/><Property Name="CanCreate" Type="Edm.Int32"/>` +
			`<Property Name="CanRead" Type="Edm.Int32"/><Property Name="CanUpdate" Type="Edm.Int32"/></ComplexType>`,
		`<ComplexType Name="RetrievePrincipalAttributePrivilegesResponse"><Property Name="AttributePrivileges" Type="Collection(mscrm.AttributePrivilege)"/></ComplexType>`,
		`<Function Name="RetrievePrincipalAttributePrivileges" IsBound="true"><Parameter Name="entity" Type="mscrm.systemuser" Nullable="false"/><ReturnType Type="mscrm.RetrievePrincipalAttributePrivilegesResponse" Nullable="false"/></Function>`,
		`<Action Name="DeliverIncomingEmail" IsBound="true"><Parameter Name="entityset" Type="Collection(mscrm.email)" Nullable="false"/><Parameter Name="MessageId" Type="Edm.String" Nullable="false"/></Action>`,
		`<ComplexType Name="MailboxTrackingFolderMapping"><Property Name="ExchangeFolderId" Type="Edm.String"/><Property Name="ExchangeFolderName" Type="Edm.String"/>` +
			`<Property Name="RegardingObjectId" Type="Edm.Guid"/><Property Name="RegardingObjectName" Type="Edm.String"/>` +
			`<Property Name="RegardingObjectTypeCode" Type="Edm.Int32"/><Property Name="IsFolderOnboarded" Type="Edm.Boolean"/></ComplexType>`,
		`<ComplexType Name="RetrieveMailboxTrackingFoldersResponse"><Property Name="MailboxTrackingFolderMappings" Type="Collection(mscrm.MailboxTrackingFolderMapping)"/></ComplexType>`,
		`<Function Name="RetrieveMailboxTrackingFolders"><Parameter Name="MailboxId" Type="Edm.String" Nullable="false"/><ReturnType Type="mscrm.RetrieveMailboxTrackingFoldersResponse" Nullable="false"/></Function>`,
		`<Action Name="DeliverPromoteEmail" IsBound="true"><Parameter Name="entity" Type="mscrm.email" Nullable="false"/><Parameter Name="MessageId" Type="Edm.String"/></Action>`,
		`<ComplexType Name="SendEmailResponse"><Property Name="Subject" Type="Edm.String"/></ComplexType>`,
		`<Action Name="SendEmail" IsBound="true"><Parameter Name="entity" Type="mscrm.email" Nullable="false"/>` +
			`<Parameter Name="IssueSend" Type="Edm.Boolean" Nullable="false"/><Parameter Name="TrackingToken" Type="Edm.String"/>` +
			`<ReturnType Type="mscrm.SendEmailResponse" Nullable="false"/></Action>`,
		`<ComplexType Name="QueryBase" Abstract="true"/><ComplexType Name="FetchExpression" BaseType="mscrm.QueryBase"><Property Name="Query" Type="Edm.String"/></ComplexType>`,
		`<ComplexType Name="BackgroundSendEmailResponse"><Property Name="HasAttachments" Type="Collection(Edm.Boolean)"/>` +
			`<NavigationProperty Name="EntityCollection" Type="Collection(mscrm.email)" Nullable="false"/></ComplexType>`,
		`<Action Name="BackgroundSendEmail"><Parameter Name="Query" Type="mscrm.QueryBase" Nullable="false"/>` +
			`<ReturnType Type="mscrm.BackgroundSendEmailResponse" Nullable="false"/></Action>`,
	} {
		b.WriteString(f + "\n")
	}
	b.WriteString(`<EntityContainer Name="System">`)
	for _, s := range sets {
		e, _ := c.s.Cat.Set(s)
		b.WriteString(`<EntitySet Name="` + s + `" EntityType="Microsoft.Dynamics.CRM.` + e.Logical + `"/>`)
	}
	b.WriteString(`<FunctionImport Name="WhoAmI" Function="Microsoft.Dynamics.CRM.WhoAmI"/>`)
	b.WriteString(`<FunctionImport Name="CheckIncomingEmail" Function="Microsoft.Dynamics.CRM.CheckIncomingEmail"/>`)
	b.WriteString(`<FunctionImport Name="CheckPromoteEmail" Function="Microsoft.Dynamics.CRM.CheckPromoteEmail"/>`)
	b.WriteString(`<FunctionImport Name="RetrieveMailboxTrackingFolders" Function="Microsoft.Dynamics.CRM.RetrieveMailboxTrackingFolders"/>`)
	b.WriteString(`<ActionImport Name="BackgroundSendEmail" Action="Microsoft.Dynamics.CRM.BackgroundSendEmail"/>`)
	b.WriteString("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>\n")
	c.w.Header().Set("Content-Type", "application/xml")
	c.w.Header().Set("OData-Version", "4.0")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write([]byte(b.String()))
	return nil
}
