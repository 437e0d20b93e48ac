package auth

import "context"

// SignInVerified exposes the shared sign-in path of the flows without a
// password check to the tests, before every flow that uses it is built.
func (s *Service) SignInVerified(ctx context.Context, userID string, v VerifiedSignIn, description *string) (*AuthPayload, error) {
	return s.signInVerified(ctx, userID, v, description)
}
