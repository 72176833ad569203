// Package localcrm is a local CRM: a real HTTP server implementing the
// subset of the Dataverse (Dynamics 365) Web API that the agent uses, with
// its own OAuth token endpoint, users and security roles, record ownership,
// service-protection limits and a SQLite store. The product runs out of the
// box against it (`crmsync --demo`, `crmsync localcrm serve`), and tests
// talk real HTTP on loopback to it, including the failures a real service
// produces (Server.InjectFault).
//
// Sign-in behaves like Microsoft Entra ID (Options.Auth "entra", the
// default) or AD FS ("adfs"): a Web API request without a valid bearer
// token gets 401 with the challenge
//
//	WWW-Authenticate: Bearer authorization_uri=<origin>/<TenantID>/oauth2/authorize, resource_id=<origin>/
//
// (AD FS: authorization_uri=<origin>/adfs/oauth2/authorize). The tenant is TenantID, also reachable as
// demo.local, organizations and common; only RegisteredClients may sign in
// (AADSTS700016 otherwise). Both sets of endpoints are served in either mode:
//
//	GET  /<tenant>/v2.0/.well-known/openid-configuration  discovery in Entra's shape (v1.0: /<tenant>/.well-known/...)
//	GET  /<tenant>/discovery/v2.0/keys                    the id_token signing key (JWK set)
//	GET, POST /<tenant>/oauth2/v2.0/authorize             code flow with PKCE S256: sign-in page (fields login, passwd;
//	                                                      buttons idSIButton9 and cancel), then 302 (or form_post) to
//	                                                      the loopback redirect with code, state, session_state
//	POST /<tenant>/oauth2/v2.0/token                      grants authorization_code, refresh_token (rotated),
//	                                                      password, device_code (RFC 8628 URN or "device_code")
//	POST /<tenant>/oauth2/v2.0/devicecode                 device_code, user_code, verification_uri, expires_in, interval
//	GET, POST /devicelogin                                verification page: field code (or user_code), then login and
//	                                                      passwd, or the decline button
//	/<tenant>/oauth2/{authorize,token,devicecode}         the same flows with Entra's v1.0 resource parameter
//	GET  /common/UserRealm/<user>, /common/discovery/instance   home realm and instance discovery, as MSAL asks
//	/adfs/.well-known/openid-configuration, /adfs/discovery/keys, /adfs/oauth2/{authorize,token,devicecode},
//	/adfs/oauth2/deviceauth                               the same flows in AD FS's shape (resource in scope or as
//	                                                      resource; PKCE plain or S256; refresh_token_expires_in)
//	POST /oauth2/v2.0/token                               as before: password and refresh_token with any scope, a
//	                                                      refresh token in every answer, no rotation (also the new grants)
//	/api/data/v9.2/ (also v9.0, v9.1)                     the Web API; every request needs Authorization: Bearer
//	GET  /main.aspx?etn=<table>&id=<guid>                 the web app's record address: a page that names the
//	                                                      record and says this server has no web app
//
// Refusals are written as Entra writes them: error, an error_description
// starting with the AADSTS code, error_codes, timestamp, trace_id,
// correlation_id and, where Entra sends one, suberror. Users marked with
// SetRequireMFA (the demo user dave) are refused by the password grant
// with AADSTS50076; the sign-in pages stand for the second factor.
//
// Web API:
//
//	GET  WhoAmI() | WhoAmI
//	GET, POST                  emails, appointments, tasks, contacts, accounts, queues,
//	                           systemusers, mailboxes, mailboxtrackingfolders, userqueries,
//	                           savedqueries, syncattributemappingprofiles,
//	                           syncattributemappings, activitymimeattachments,
//	                           annotations, and with Options.App
//	                           opportunities and leads (sales), incidents (service)
//	GET, PATCH (upsert), DELETE <set>(<guid>)
//	GET  <set>?fetchXml=<url-encoded FetchXML>   (package fetchxml; see below)
//	GET, PUT                   emails(<guid>)/email_activity_parties,
//	                           appointments(<guid>)/appointment_activity_parties
//	GET  EntityDefinitions(LogicalName='<table>')/Attributes[?$select=LogicalName,IsSecured,MetadataId&$filter=IsSecured eq true]
//	PUT, DELETE                <set>(<guid>)/<navigation property>/$ref
//	GET  CheckIncomingEmail(...), CheckPromoteEmail(...)
//	GET  RetrieveMailboxTrackingFolders(MailboxId=@m)?@m='<guid>'
//	POST emails/Microsoft.Dynamics.CRM.DeliverIncomingEmail
//	POST emails(<guid>)/Microsoft.Dynamics.CRM.DeliverPromoteEmail
//	POST emails(<guid>)/Microsoft.Dynamics.CRM.SendEmail   {"IssueSend": bool, "TrackingToken": "..."}
//	POST BackgroundSendEmail   {"Query": {"@odata.type": "Microsoft.Dynamics.CRM.FetchExpression", "Query": "<fetch>"}}
//	GET  systemusers(<guid>)/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName(PrivilegeName=...)
//	GET  systemusers(<guid>)/Microsoft.Dynamics.CRM.RetrieveUserPrivileges
//	GET  systemusers(<guid>)/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@t)?@t={'@odata.id':'emails(<guid>)'}
//	GET  systemusers(<guid>)/Microsoft.Dynamics.CRM.RetrievePrincipalAttributePrivileges()
//	GET  the service document and $metadata
//
// Queries support $select, $filter, $orderby, $top, $count,
// $expand=email_activity_parties($select=...) (appointment_activity_parties
// on appointments), parameter aliases, and
// paging with Prefer: odata.maxpagesize and an opaque $skiptoken in
// @odata.nextLink. contains, startswith and endswith take Dataverse's
// wildcard patterns (% _ [set] [^set], and [%] [_] [[] for the literal
// characters); an unclosed '[' and trailing wildcards (startswith(x,'%a'),
// endswith(x,'a%'), "not supported" in Microsoft's page) are 400. $skip,
// $search, $format, $apply and $batch are refused, as Dataverse refuses the
// first three. A $batch handler elsewhere runs its parts through
// Server.APIHandler (not counted against the request limit) and makes
// change sets atomic with Server.BeginTx.
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
//   - Read-only columns (Microsoft's IsValidForCreate and IsValidForUpdate
//     false: inreplyto, senton, conversationindex, createdon, modifiedon,
//     createdby, modifiedby, emailsender, owning*, correlationmethod,
//     attachmentcount, versionnumber, activitytypecode) are refused with
//     400 naming the column, not ignored. actualstart and actualend take
//     ISO 8601 with Z or an offset; completing an email sets an empty
//     actualend to the completion time.
//   - Completed and canceled emails are read-only: a PATCH may change only
//     the regarding link (also through $ref), the state, and messageid
//     together with a change to statuscode 3 (Sent); the request that
//     completes an open email may carry other columns. An email may be
//     created directly as completed.
//   - The sender party (participationtypemask 1) may bind only a
//     systemuser or a queue, the targets of the from PartyList in
//     Microsoft's email reference; any other sender is sent as addressused
//     alone. Recipients may be accounts, contacts, leads, queues, users or
//     unresolved addresses.
//   - A table the environment does not have (Options.App) answers 404
//     "Resource not found for the segment '<set>'." as any unknown entity
//     set, is missing from the service document and $metadata, and cannot
//     be bound to.
//   - Activities (emails, appointments, tasks) are updated and deleted
//     only by their owner (403, code 0x80040220); other business records
//     may be updated by anyone and deleted by their owner; systemusers are
//     read-only.
//   - Every user has a mailbox (systemuser _defaultmailbox_value; the
//     mailbox's _regardingobjectid_value is the user). Mailboxes are
//     read-only through the Web API, since changing one is an
//     administrator's task and this server has no administrator role
//     there: Server.SetMailboxDelivery stands for the administrator.
//     Demo mailboxes deliver through the desktop client (alice, dave:
//     outgoingemaildeliverymethod 1) or server-side synchronization (bob,
//     carol: 2); other users' mailboxes use 2.
//   - A user reads only their own mailbox and its folder-level tracking
//     rules (mailboxtrackingfolders): a query leaves the others out, as
//     Dataverse leaves out rows a user-depth privilege does not reach, and
//     a retrieve, update, delete or create on another user's mailbox is
//     403. A rule needs exchangefolderid and mailboxid@odata.bind; its
//     regarding record is bound with regardingobjectid_<table>@odata.bind
//     (account, contact, lead, opportunity, incident). A folder has one
//     rule per mailbox (a second is 412 DuplicateRecord), and a mailbox at
//     most 25 rules (the 26th is 400, its message says the limit).
//   - Choice columns (the mailbox delivery methods) answer their label as
//     the formatted value and refuse values outside their choices.
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
//     activity, and all rights for the owner; "None" for another user's
//     personal view.
//   - Appointments (statecode 0 Open {1 Free, 2 Tentative}, 1 Completed
//     {3}, 2 Canceled {4}, 3 Scheduled {5 Busy, 6 Out of Office}; a create
//     without statecode is Scheduled/Busy) carry their parties in
//     appointment_activity_parties: 7 organizer (a systemuser, or an
//     addressused alone; at most one), 5 required and 6 optional attendees
//     (account, contact, lead, queue, systemuser or addressused), written
//     by deep insert and replaced wholesale by a PATCH or PUT carrying the
//     collection. Tasks: 0 Open {2 Not Started, 3 In Progress, 4 Waiting,
//     7 Deferred}, 1 Completed {5}, 2 Canceled {6}. Both use
//     regardingobjectid_<table>_<activity> (and regardingobjectid_<table>).
//     Like emails, appointments and tasks are changed and deleted only by
//     their owner, and are read-only once completed or canceled (except
//     their regarding link and state); completing a task sets an empty
//     actualend. Any record may be created with a client-chosen key; a
//     second create with that key is 412 (0x80040237).
//   - FetchXML (GET <set>?fetchXml=...): one <entity> that must be the
//     set's table; attribute, all-attributes (no attribute element also
//     means all), order, nested filter (and/or), condition with value or
//     <value> children, and link-entity name="activityparty"
//     from="activityid" to="activityid" (inner or outer, alias, filters on
//     partyid, participationtypemask, addressused), whose alias a
//     condition may name with entityname. Operators eq ne gt ge lt le
//     null not-null like not-like in not-in eq-userid ne-userid on
//     on-or-after on-or-before today yesterday tomorrow last-x-days
//     next-x-days olderthan-x-days; values are typed by the column (GUIDs
//     with or without braces, booleans 0/1/true/false); lookups are named
//     by their logical name (ownerid). Date operators compare whole UTC
//     days. Rows are records: a join never repeats one. Pages: count
//     (default and maximum 5000) and page; paging-cookie is accepted and
//     ignored. The answer is the set's collection; with Prefer
//     odata.include-annotations asking for them it carries
//     @Microsoft.Dynamics.CRM.morerecords (true, only when more rows
//     exist) and @Microsoft.Dynamics.CRM.fetchxmlpagingcookie, and, for
//     returntotalrecordcount, @Microsoft.Dynamics.CRM.totalrecordcount. A
//     fetchXml with any $-option is 400; FetchXML errors are 400 with
//     0x80041103 (unknown attribute) or 0x80040203.
//   - Synchronization filters are views of querytype 256: every user gets
//     "My Outlook Contacts", "My Appointments" and "My Tasks" (userqueries,
//     once, with the mailbox; see SyncFilterTemplates), and the demo has
//     the savedquery "Contacts at Contoso". A user reads, creates, changes
//     and deletes only their own userqueries (403 otherwise; others'
//     are left out of queries); a view's fetchxml must run here and query
//     its returnedtypecode (400 otherwise). savedqueries,
//     syncattributemappingprofiles and syncattributemappings are read-only
//     (Server.PutSavedQuery, SetUserQueryActive and SetSyncDirection stand
//     for the administrator). The system profile "Default" maps the
//     contact, appointment and task fields to Exchange's; syncdirection is
//     0 None, 1 ToExchange, 2 ToCRM, 3 Bidirectional (numbers UNCONFIRMED),
//     limited by allowedsyncdirection.
//   - Field security: contact.telephone2 is secured. System administrators
//     (Server.SetUserRole) and the users of a field security profile that
//     grants it (the demo's "Personal contact details": bob) read and write
//     it; for anyone else it reads as null everywhere ($select, default
//     columns, $expand, FetchXML), and $filter and FetchXML conditions see
//     null, and setting it is 403 with 0x8004F502 (create) or 0x8004F507
//     (update), applying nothing. EntityDefinitions(...)/Attributes lists
//     every column with IsSecured and a MetadataId fixed per table and
//     column; RetrievePrincipalAttributePrivileges lists the secured
//     columns a user has some access to, with 0 or 4 per right. Any user
//     may ask it about any user (it needs prvReadUser, which every role
//     has).
//   - Outgoing email, for a desktop client that sends the CRM's email
//     through the user's own mail account (the legacy Dynamics 365 for
//     Outlook's job). Email statuses: Draft 1 and Failed 8 (open, 0);
//     Completed 2, Sent 3, Received 4, Pending Send 6, Sending 7
//     (completed, 1); Canceled 5 (2). SendEmail (bound to an open,
//     outgoing email of the caller's, with a To, Cc or Bcc party; 400
//     otherwise) answers {"Subject": ...} (SendEmailResponse): IssueSend
//     false records it Sent (1/3) at once; true makes it Pending Send
//     (1/6) when the sender's mailbox has outgoingemaildeliverymethod 1
//     (the client delivers) or 2 (server-side synchronization, which this
//     server does not have, so it waits), and is refused (400) for 0
//     (None). An email without a sender party gets the caller as sender;
//     another user as sender needs prvSendAsUser (403; only System
//     Administrators hold it here); a queue or a bare address of someone
//     else is 400. A non-empty TrackingToken is stored in trackingtoken;
//     none is generated. BackgroundSendEmail runs the FetchExpression on
//     email (FetchXML as above) over the caller's Pending Send emails
//     whose sender party is the caller, and only while the caller's
//     mailbox delivers through the client (1): it answers
//     {"EntityCollection": [emails with "@odata.type":
//     "#Microsoft.Dynamics.CRM.email", @odata.etag, the query's attributes
//     and always activityid, subject, description, statecode, statuscode,
//     _ownerid_value, messageid, directioncode, createdon, modifiedon,
//     versionnumber], "HasAttachments": [one bool per email]} and changes
//     no state. Any other QueryBase than FetchExpression is 400. SendEmail
//     needs prvReadActivity, prvReadUser and prvWriteActivity,
//     BackgroundSendEmail prvReadActivity and prvWriteActivity (403
//     naming the missing one); Dataverse has no prvSendEmail.
//   - PATCH on an email's status follows the sending lifecycle: Pending
//     Send to Sending (claim it with If-Match; a second claim is 412 on
//     the old ETag and 400 once Sending), Sending to Sent together with
//     messageid (senton is set by the server whenever an email becomes
//     Sent), Pending Send or Sending to Failed (0/8); Sending to anything
//     else, Failed to Pending Send (use SendEmail: a retry), a draft to
//     Sending or Failed, and creating an email as 6, 7 or 8 are 400.
//   - activitymimeattachments: filename, mimetype, body (Base64), subject,
//     objecttypecode, read-only filesize (the decoded size) and
//     _ownerid_value (the activity's owner). Created with
//     objectid_email@odata.bind or objectid_activitypointer@odata.bind
//     ("/activitypointers(<guid>)" names any activity) and objecttypecode
//     "email" (filled in when absent; another table is 400); changed and
//     deleted only by the activity's owner while it is open (403, 400).
//     A body longer than 5,242,880 characters of Base64 (Dataverse's
//     default maximum upload file size) is 400 0x80044a02 "Attachment file
//     size is too big."; a body that is not Base64 is 400. The email's
//     attachmentcount counts them. Deleting an activity deletes its
//     attachments, and deleting any record its notes.
//   - annotations (notes): subject (500), notetext, filename, mimetype,
//     documentbody (same limit), isdocument and filesize (server-set),
//     objecttypecode, objectid_<table>@odata.bind for emails, appointments,
//     tasks, accounts, contacts and, with the apps, leads, opportunities and
//     incidents. Anyone may add a note; only its owner changes or deletes it.
//   - Roles: Sales Viewer (carol) reads activities but lacks
//     prvCreateActivity, prvWriteActivity, prvDeleteActivity and
//     prvAppendActivity, so creating, changing, deleting and sending
//     activities is 403 for it. RetrieveUserPrivileges lists these.
//   - Refresh tokens are rotated at the tenant and AD FS endpoints: each
//     use answers with a new one and the used one stops working (a strict
//     choice; Entra ID lets an older one live until it expires). The root
//     endpoint keeps an older one valid. Entra's rules: a refresh token
//     only for offline_access, an id_token only for openid, client_info
//     for client_info=1. A password change revokes refresh tokens;
//     RevokeTokens ends all sessions and drops codes not yet redeemed.
//   - Authorization codes last AuthCodeTTL (at most ten minutes), are
//     bound to client, exact redirect URI (port included), scope, PKCE
//     challenge and user, and work once; device codes poll no faster than
//     DeviceCodeInterval (slow_down). Both live in memory only.
//
// The code is split along its seams; this package wires them together and
// keeps the public API (Server, Options, New, Serve, faults, the demo
// seed, user management):
//
//	idp             the identity provider: tenant and discovery, authorize
//	                (code flow with PKCE), device code, token grants, id_token
//	                signing, MFA, sign-in pages, OAuth errors, bearer checks
//	webapi          the Web API: routing, record handlers, answers, $metadata
//	functions       WhoAmI, CheckIncomingEmail, CheckPromoteEmail,
//	                DeliverIncomingEmail, DeliverPromoteEmail, privilege checks,
//	                RetrieveMailboxTrackingFolders, RetrievePrincipalAttributePrivileges,
//	                SendEmail, BackgroundSendEmail
//	fetchxml        the FetchXML subset: parser, compiler against a table, evaluator
//	records         the tables (with Options.App), payload validation and the
//	                record rules, mailboxes and folder-level tracking rules,
//	                appointments and tasks, views and sync mappings, field security,
//	                role privileges, attachments and notes, the sending of email
//	odata           query options, Prefer, the $filter language with
//	                wildcards, paging, function parameters
//	store           the SQLite store, its transactions (BeginTx) and rows
//	internal/wire   OData errors, ordered JSON, GUIDs and dates
//	internal/limit  the sliding-window request limiter
//	internal/crmtest  a seeded server and an HTTP client for the tests
//	batch, protect  $batch and service protection (maintained separately)
package localcrm
