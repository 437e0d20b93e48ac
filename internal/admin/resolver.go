// Package admin is authgate's administration: the admin GraphQL API
// (admin.graphql, served on POST /admin/graphql, gqlgen code generated into
// this package) with its caller checks, and the admin console (/admin):
// server-rendered pages over the same auth.Service methods the command
// line calls.
package admin

import "authgate/internal/auth"

// Resolver holds the services the resolvers call.
type Resolver struct {
	Auth *auth.Service
}
