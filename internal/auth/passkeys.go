package auth

import (
	"context"
)

var errPasskeysOff = newError(CodeForbidden, "passkeys are not configured on this server (AUTHGATE_WEBAUTHN_RP_ID)")

// BeginPasskeyRegistration starts making a passkey for the caller.
func (s *Service) BeginPasskeyRegistration(ctx context.Context) (JSONObject, error) {
	return nil, errPasskeysOff
}

// FinishPasskeyRegistration finishes making a passkey.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, credential JSONObject, name *string) (*Passkey, error) {
	return nil, errPasskeysOff
}

// BeginPasskeySignIn starts a passkey sign-in.
func (s *Service) BeginPasskeySignIn(ctx context.Context, email *string) (JSONObject, error) {
	return nil, errPasskeysOff
}

// FinishPasskeySignIn finishes a passkey sign-in.
func (s *Service) FinishPasskeySignIn(ctx context.Context, credential JSONObject, description *string) (*AuthPayload, error) {
	return nil, errPasskeysOff
}

// RemovePasskey removes one of the caller's passkeys.
func (s *Service) RemovePasskey(ctx context.Context, id string) (bool, error) {
	return false, errPasskeysOff
}
