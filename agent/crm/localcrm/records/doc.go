// Package records is the local CRM's data model and its rules: the tables
// an environment has (Catalog, with the optional Sales and Customer
// Service tables of Options.App), the validation of request bodies against
// them (read-only columns, types and lengths, @odata.bind, email parties
// and who may be the sender), and what a write must respect (state pairs,
// completed emails being read-only, ownership, duplicate Message-IDs, and
// for mailboxes and their folder-level tracking rules: the user's own
// mailbox only, one rule per folder, at most 25 rules).
// Session carries the caller and the clock of one request.
package records
