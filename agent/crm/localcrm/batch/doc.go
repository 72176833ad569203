// Package batch serves the OData $batch endpoint of the Dataverse Web API
// for the local CRM server, as strictly as Dataverse does
// (execute-batch-operations-using-web-api.md):
//
//   - POST <api>/$batch with Content-Type multipart/mixed; boundary=...;
//     every part is Content-Type: application/http with
//     Content-Transfer-Encoding: binary and holds one inner request (request
//     line with a path relative to the API root, a server-absolute path, or
//     a full URL of the same service; headers; optional JSON body), or is a
//     change set: Content-Type: multipart/mixed; boundary=changeset_...
//   - Inside a change set only POST, PATCH, PUT and DELETE are allowed; an
//     operation may refer to an entity created earlier in the same change
//     set as $n (n its Content-ID) at the start of its URL and as the value
//     of an @odata.bind (or @odata.id) property. A change set is atomic:
//     when an operation answers non-2xx, the change set is rolled back and
//     its answer holds that operation's answer alone.
//   - At most 1000 operations (those in change sets included), no nested
//     change sets, no nested $batch.
//   - Without Prefer: odata.continue-on-error the batch stops at the first
//     failing operation (status 400 or more) or failed change set; that
//     status becomes the batch's, and the body holds the answers given so
//     far, the failing one last (Dataverse answers so: users report getting
//     the answers up to and including the first 404). With the preference
//     every part runs, the batch answers 200 and echoes Preference-Applied.
//   - The answer is multipart/mixed; boundary=batchresponse_<uuid>, change
//     sets nested as changesetresponse_<uuid> with their Content-IDs.
//   - A malformed batch is refused as a whole, before any operation runs,
//     with 400 and an OData error body that says what is wrong.
//
// The package is standalone (standard library only). To wire it into a
// server:
//
//  1. Route POST <api root>/$batch (all Web API versions the server
//     serves) to a handler that authenticates the caller, admits the request
//     ONCE against the service protection limits (a batch counts as one
//     request and its whole duration as execution time), sets the
//     x-ms-ratelimit headers, and then calls Serve; Done runs after Serve
//     returns. The usual order: auth → Admit → Serve → Done.
//  2. Options.Exec is the handler that serves one ordinary Web API request,
//     authentication included (inner requests inherit the outer
//     Authorization header and a few other auth-relevant headers unless the
//     part sets its own). It must not apply the service protection limits
//     again: skip Admit when IsInner(r.Context()) is true, or pass a handler
//     chain without the limiter. It must not route $batch itself (Serve
//     refuses nested batches before they reach Exec anyway).
//  3. Options.Begin opens one transaction per change set. Exec must run its
//     store work in the transaction found in the context it is given
//     (txCtx), so that the change set commits or rolls back as one. Serve
//     calls exactly one of commit and rollback for every successful Begin,
//     also when Exec panics.
//  4. Options.APIRoot gives the absolute API root of the outer request (for
//     example "http://127.0.0.1:8555/api/data/v9.2/"), against which inner
//     URLs are resolved and checked; nil derives it from the outer request.
//  5. Exec must answer creations with OData-EntityId (or Location) holding
//     the absolute entity URL, as Dataverse does; that URL is what $n stands
//     for. It must accept absolute URLs as @odata.bind values, which
//     Dataverse also does.
package batch
