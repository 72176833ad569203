// Package signin signs the agent in to a Dynamics 365 (Dataverse) CRM: it
// finds the CRM's sign-in service from the Web API's 401 challenge
// (Microsoft Entra ID or AD FS, or the local CRM that behaves like them),
// runs one of three sign-ins (the system browser with an authorization
// code and PKCE on a loopback redirect, a device code, or a password where
// the organisation still allows it), and keeps the resulting tokens in a
// Session that renews the access token with the refresh token.
//
// Tokens live in memory only. The refresh token is handed to the caller
// (Grant.RefreshToken, Session's onRotate) so that it can keep it in the
// OS keychain; nothing here writes it anywhere. No token, authorization
// code, PKCE verifier, password or user address ever appears in an error,
// a log line or the process environment.
//
// Every failure is a *crm.Error, so the agent classifies sign-in failures
// the same way as CRM failures: KindUnauthorized means the user has to
// sign in (again); network failures, throttling and 5xx answers are
// temporary and never sign the user out. Sentinels such as
// ErrInteractionRequired say more, for errors.Is.
package signin
