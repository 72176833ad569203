// Package protect enforces Dataverse's service protection limits for the
// local CRM server: per user, over a sliding window (default 300 s), at most
// a number of requests (default 6000) and a combined execution time
// (default 20 minutes), and at any moment at most a number of concurrent
// requests (default 52). A refused request gets 429 Too Many Requests with
// Retry-After in whole seconds and the OData error body Dataverse sends
// (codes 0x80072322, 0x80072321 and 0x80072326). Every answer, success or
// not, carries the informational headers
// x-ms-ratelimit-burst-remaining-xrm-requests and
// x-ms-ratelimit-time-remaining-xrm-requests.
//
// The package is standalone (standard library only) so that a server can
// adopt it without this package knowing the server. Wire one Guard per
// server (Dataverse counts per user per web server) into the Web API
// handler, after authentication and before the request is served:
//
//	user, ok := authenticate(r) // 401s happen here and are never counted
//	if !ok { ...; return }
//	t, refused := guard.Admit(user)
//	guard.Headers(user, w.Header()) // on every answer, the 429 included
//	if refused != nil {
//		refused.Write(w)
//		return
//	}
//	defer t.Done() // records the execution time, frees the concurrency slot
//	serve(w, r)
//
// The user key is the caller's stable identity (for example the systemuserid
// or the token's object id), never the token itself, so that a refreshed
// token stays in the same budget.
//
// A $batch request counts as ONE request against the request limit and its
// whole duration against the execution-time limit ("A batch can contain up to
// 1000 operations and will avoid the number of requests limit. However, you
// will need to be prepared for the execution time limit."). So the $batch
// route is admitted like any other request, and the inner requests the batch
// endpoint replays must NOT pass through Admit again: either give the batch
// endpoint a handler that skips the guard, or skip Admit when the request's
// context marks it as a batch inner request (package batch provides
// batch.IsInner for that).
package protect
