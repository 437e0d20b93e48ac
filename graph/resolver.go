// Package graph is authgate's GraphQL door: gqlgen-generated code plus thin
// resolvers that each call one auth.Service method.
package graph

import (
	"context"

	"authgate/internal/auth"
)

// Resolver holds the services the resolvers call.
type Resolver struct {
	Auth *auth.Service
	// Providers verifies native apps' ID tokens and signs their users in
	// (signInWithIdToken); nil: no provider is configured
	// (UNKNOWN_PROVIDER).
	Providers IDTokenSignIn
}

// IDTokenSignIn signs in with an ID token a provider's native sign-in gave
// a mobile app: it verifies the token (internal/oidc) and hands the
// identity to auth.Service.SignInWithIdentity.
type IDTokenSignIn interface {
	SignInWithIdToken(ctx context.Context, provider, idToken string, nonce, description *string) (*auth.AuthPayload, error)
}
