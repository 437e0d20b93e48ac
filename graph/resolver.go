// Package graph is authgate's GraphQL door: gqlgen-generated code plus thin
// resolvers that each call one auth.Service method.
package graph

import "authgate/internal/auth"

// Resolver holds the services the resolvers call.
type Resolver struct {
	Auth *auth.Service
}
