// Package localcrm is a local CRM: a real HTTP server implementing the
// subset of the Dataverse (Dynamics 365) Web API that the agent uses, with
// its own OAuth token endpoint, users and security roles, record ownership,
// service-protection limits and a SQLite store. The product runs out of the
// box against it (`crmsync --demo`, `crmsync localcrm serve`), and tests
// talk real HTTP on loopback to it, including the failures a real service
// produces (Server.InjectFault).
//
// Endpoints:
//
//	POST /oauth2/v2.0/token                 grant_type=password or refresh_token (RFC 6749 errors)
//	/api/data/v9.2/ (also v9.0, v9.1)       the Web API; every request needs Authorization: Bearer
//	  GET  WhoAmI() | WhoAmI
//	  GET, POST                  emails, contacts, accounts, opportunities, incidents, leads, systemusers
//	  GET, PATCH (upsert), DELETE <set>(<guid>)
//	  GET, PUT                   emails(<guid>)/email_activity_parties
//	  PUT, DELETE                <set>(<guid>)/<navigation property>/$ref
//	  GET                        <set>(<guid>)/<column>
//	  GET  CheckIncomingEmail(...), CheckPromoteEmail(...)
//	  POST emails/Microsoft.Dynamics.CRM.DeliverIncomingEmail
//	  POST emails(<guid>)/Microsoft.Dynamics.CRM.DeliverPromoteEmail
//	  GET  systemusers(<guid>)/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName(PrivilegeName=...)
//	  GET  systemusers(<guid>)/Microsoft.Dynamics.CRM.RetrieveUserPrivileges
//	  GET  systemusers(<guid>)/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@t)?@t={'@odata.id':'emails(<guid>)'}
//	  GET  the service document and $metadata
//
// Queries support $select, $filter, $orderby, $top, $count,
// $expand=email_activity_parties($select=...), parameter aliases, and
// paging with Prefer: odata.maxpagesize and an opaque $skiptoken in
// @odata.nextLink. $skip, $search, $format, $apply and $batch are refused,
// as Dataverse refuses the first three.
//
// Where the Dataverse documentation leaves behaviour open, this server
// chooses as follows, so that a client written against it is strict rather
// than lenient:
//   - Record keys are bare GUIDs; braces, quotes and alternate keys are 400.
//   - A bind to a record that does not exist is 404 (ObjectDoesNotExist).
//   - Both regardingobjectid_<table>_email and regardingobjectid_<table>
//     are accepted, as are ownerid and ownerid_email.
//   - A second email with the same messageid, direction and owner is
//     refused with 412 (DuplicateRecord). Clients should not depend on
//     that: the portable way to make a create retry safe is a client-chosen
//     key (activityid in the body), whose repeat is 412 on any server.
//   - Completed and canceled emails are read-only except for regarding,
//     owner and state; an email may be created directly as completed.
//   - Emails are updated and deleted only by their owner (403, code
//     0x80040220); other business records may be updated by anyone and
//     deleted by their owner; systemusers are read-only.
//   - CheckIncomingEmail: 0 Duplicate when any email has exactly that
//     messageid (case-sensitive); 7 InvalidSender when From is empty or not
//     an address; 5 SenderMatch when From resolves (systemuser, contact,
//     account, lead; first-created active row); else 3 NoRecipientMatch.
//     To, Cc and Bcc are separated by ';' or ','.
//   - CheckPromoteEmail: ShouldPromote false with ReasonCode 0 (Duplicate)
//     when an email with the messageid (and DirectionCode, 0 incoming or
//     1 outgoing, if given) exists; else true with ReasonCode 1.
//   - DeliverIncomingEmail creates a received email (directioncode false,
//     statecode 1, statuscode 4) owned by the caller, with resolved
//     parties, and answers {"EmailId": ...}; any email with the same
//     messageid makes it 412. DeliverPromoteEmail completes the bound
//     email in place (owner only) and answers its id.
//   - RetrievePrincipalAccess lists "ReadAccess" for a non-owner of an
//     email, and all rights for the owner.
//   - Refresh tokens are not rotated away: an older one stays valid until
//     it expires, as with Entra ID. A password change revokes refresh
//     tokens; RevokeTokens ends all sessions at once.
package localcrm
