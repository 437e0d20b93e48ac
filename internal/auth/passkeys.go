package auth

import (
	"context"
	"errors"
)

// BeginPasskeyRegistration starts making a passkey for the caller.
func (s *Service) BeginPasskeyRegistration(ctx context.Context) (JSONObject, error) {
	return nil, errors.New("not yet")
}

// FinishPasskeyRegistration finishes making a passkey.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, credential JSONObject, name *string) (*Passkey, error) {
	return nil, errors.New("not yet")
}

// BeginPasskeySignIn starts a passkey sign-in.
func (s *Service) BeginPasskeySignIn(ctx context.Context, email *string) (JSONObject, error) {
	return nil, errors.New("not yet")
}

// FinishPasskeySignIn finishes a passkey sign-in.
func (s *Service) FinishPasskeySignIn(ctx context.Context, credential JSONObject, description *string) (*AuthPayload, error) {
	return nil, errors.New("not yet")
}

// RemovePasskey removes one of the caller's passkeys.
func (s *Service) RemovePasskey(ctx context.Context, id string) (bool, error) {
	return false, errors.New("not yet")
}
