package signin

import (
	"context"
	"errors"

	"crmsync/agent/crm"
)

// Password signs in with a user name and password (the resource owner
// password grant). Organisations that require multi-factor authentication
// refuse it with ErrInteractionRequired; that answer is final, and the
// caller must offer Browser or DeviceCode rather than try again.
func (c Config) Password(ctx context.Context, username, password string) (_ *Grant, err error) {
	defer func() { err = userFacing(err) }()
	const op = "password sign-in"
	if username == "" || password == "" {
		return nil, &crm.Error{Op: op, Kind: crm.KindBadRequest, Message: "Enter your user name and password."}
	}
	form := c.newForm("password")
	form.Set("username", username)
	form.Set("password", password)
	g, err := c.redeem(ctx, op, form, "The user name or password was not accepted; check them and try again.")
	if err != nil {
		return nil, ctxError(ctx, op, err)
	}
	if g.Account.Username == "" {
		g.Account.Username = username
	}
	return g, nil
}

// Refresh trades a refresh token for a new access token. The answer's
// RefreshToken is the old one when the service did not issue a new one,
// so the caller can always store what it returns.
func (c Config) Refresh(ctx context.Context, refreshToken string) (_ *Grant, err error) {
	defer func() { err = userFacing(err) }()
	const op = "refresh token"
	if refreshToken == "" {
		return nil, &crm.Error{Op: op, Kind: crm.KindUnauthorized, Message: "You are not signed in; sign in."}
	}
	form := c.newForm("refresh_token")
	form.Set("refresh_token", refreshToken)
	g, err := c.redeem(ctx, op, form, msgSessionGone)
	if err != nil {
		return nil, err
	}
	if g.RefreshToken == "" {
		g.RefreshToken = refreshToken
	}
	return g, nil
}

// ctxError turns the failure of a request whose context ended into
// ErrCanceled, for the interactive sign-ins: the user or the caller gave
// up, and the network is not to blame.
func ctxError(ctx context.Context, op string, err error) error {
	if ctx.Err() == nil {
		return err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return flowError(op, crm.KindUnauthorized, ErrTimedOut, "The sign-in took too long; start it again.")
	}
	return canceled(op)
}
