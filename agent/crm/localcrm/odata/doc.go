// Package odata is the OData query language of the local CRM's Web API, as
// Dataverse accepts it: path segments, system query options and parameter
// aliases (Query), the Prefer header (Prefs), $select, $orderby and
// $expand against a table's Schema (Spec), the $filter language (a parser,
// a type checker and an evaluator, with Dataverse's wildcard patterns in
// contains, startswith and endswith), keyset paging with an opaque
// $skiptoken, and the parameters of function calls. It knows nothing of
// storage: rows are column maps.
package odata
