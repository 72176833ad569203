package idp

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// metaSigningKey is the meta row holding the id_token signing key (PKCS #8
// PEM). It lives in the store so that id_tokens verify across restarts.
const metaSigningKey = "idtoken_signing_key"

// signer is the key id_tokens are signed with.
type signer struct {
	key *rsa.PrivateKey
	kid string
}

// signingKey returns the id_token key, reading or creating it on first use:
// RSA generation takes a noticeable moment, and most servers (tests, the
// agent's password sign-in) never issue an id_token.
func (s *Provider) signingKey(ctx context.Context) (*signer, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	var sg *signer
	err := s.st.Tx(ctx, func(tx *sql.Tx) error {
		stored, err := store.GetMeta(ctx, tx, metaSigningKey)
		if err != nil {
			return err
		}
		if stored != "" {
			sg, err = parseSigningKey(stored)
			return err
		}
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return fmt.Errorf("localcrm: generate signing key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return fmt.Errorf("localcrm: encode signing key: %w", err)
		}
		if err := store.SetMeta(ctx, tx, metaSigningKey, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))); err != nil {
			return err
		}
		sg, err = newSigner(key)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.key = sg
	return sg, nil
}

func parseSigningKey(p string) (*signer, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, fmt.Errorf("localcrm: the stored signing key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("localcrm: read signing key: %w", err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("localcrm: the stored signing key is not RSA")
	}
	return newSigner(key)
}

// newSigner derives the key id from the public key, so it changes only
// when the key does.
func newSigner(key *rsa.PrivateKey) (*signer, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("localcrm: encode public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &signer{key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:20])}, nil
}

// sign returns a compact JWS (RS256) of the claims.
func (sg *signer) sign(claims wire.Object) (string, error) {
	header, err := json.Marshal(wire.Object{{"typ", "JWT"}, {"alg", "RS256"}, {"kid", sg.kid}})
	if err != nil {
		return "", err
	}
	payload, err := wire.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, sg.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("localcrm: sign id_token: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// handleKeys publishes the signing key as a JWK set.
func (s *Provider) handleKeys(w http.ResponseWriter, r *http.Request) {
	sg, err := s.signingKey(r.Context())
	if err != nil {
		s.log.Error("localcrm: signing key", "err", err)
		http.Error(w, "The keys are not available.", http.StatusInternalServerError)
		return
	}
	pub := sg.key.PublicKey
	writeDiscovery(w, r, wire.Object{{"keys", []wire.Object{{
		{"kty", "RSA"},
		{"use", "sig"},
		{"kid", sg.kid},
		{"n", base64.RawURLEncoding.EncodeToString(pub.N.Bytes())},
		{"e", base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())},
		{"alg", "RS256"},
	}}}})
}

// identity is what an id_token says about its user.
type identity struct {
	user     *store.User
	name     string // full name
	clientID string
	nonce    string
	authTime time.Time
}

// pairwiseSub is the subject of a user towards one client, stable but not
// shared between applications, as Entra ID's sub claim.
func pairwiseSub(clientID, userID string) string {
	sum := sha256.Sum256([]byte("sub|" + TenantID + "|" + clientID + "|" + userID))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// idToken builds and signs the id_token of a token answer.
func (s *Provider) idToken(ctx context.Context, ep endpoint, origin string, id identity) (string, error) {
	sg, err := s.signingKey(ctx)
	if err != nil {
		return "", err
	}
	now := s.now()
	iat, exp := now.Unix(), now.Add(idTokenTTL).Unix()
	sub := pairwiseSub(id.clientID, id.user.ID)
	var claims wire.Object
	if ep.kind == epADFS {
		claims = wire.Object{
			{"aud", id.clientID},
			{"iss", origin + "/adfs"},
			{"iat", iat}, {"nbf", iat}, {"exp", exp},
			{"auth_time", id.authTime.Unix()},
			{"sub", sub},
			{"upn", id.user.Email},
			{"unique_name", id.user.Email},
			{"apptype", "Public"},
			{"appid", id.clientID},
			{"ver", "1.0"},
		}
	} else {
		iss := origin + "/" + TenantID + "/v2.0"
		if ep.v1 {
			iss = origin + "/" + TenantID + "/"
		}
		claims = wire.Object{
			{"aud", id.clientID},
			{"iss", iss},
			{"iat", iat}, {"nbf", iat}, {"exp", exp},
			{"name", id.name},
			{"oid", id.user.ID},
			{"preferred_username", id.user.Email},
			{"sub", sub},
			{"tid", TenantID},
			{"uti", randomID(16)},
			{"ver", "2.0"},
		}
	}
	if id.nonce != "" {
		claims = append(claims, wire.KV{"nonce", id.nonce})
	}
	return sg.sign(claims)
}

// clientInfo is Entra's client_info: the user's wire.Object id and tenant id,
// from which MSAL builds the account's home id.
func clientInfo(userID string) string {
	b, _ := json.Marshal(map[string]string{"uid": userID, "utid": TenantID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// userFullName reads the full name from the user's systemuser record.
func (s *Provider) userFullName(ctx context.Context, userID string) string {
	rec, err := store.GetRecord(ctx, s.st.Q(ctx), "systemusers", userID)
	if err != nil || rec == nil {
		return ""
	}
	return rec.Str("fullname")
}
