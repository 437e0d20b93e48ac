package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"authgate/internal/auth"
	"authgate/internal/logctx"
)

// Access says who may administer.
type Access struct {
	// Secret, when not empty, lets in a caller that sends it as
	// X-Authgate-Admin-Secret (AUTHGATE_ADMIN_SECRET); empty: that way in
	// is off.
	Secret string
	// Roles are the roles that may administer (AUTHGATE_ADMIN_ROLES).
	Roles []string
}

// SecretHeader carries the admin secret.
const SecretHeader = "X-Authgate-Admin-Secret"

// Query cost bound: an admin query may list a page of users with their
// sessions, but not nest without end.
const (
	complexityLimit    = 5000
	queryCacheCapacity = 200
)

// NewAPI returns the admin GraphQL API's handler (POST only). Every request
// is authorised before any of it runs: UNAUTHENTICATED (401) without valid
// credentials, FORBIDDEN (403) for a caller that is not an administrator.
// What an authorised caller does is recorded in the audit trail with its
// actor: "admin_secret", or the administrator's user id.
func NewAPI(svc *auth.Service, access Access) http.Handler {
	srv := handler.New(NewExecutableSchema(Config{Resolvers: &Resolver{Auth: svc}}))
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheCapacity))
	srv.Use(extension.FixedComplexityLimit(complexityLimit))
	// Only administrators get this far: they may read the schema.
	srv.Use(extension.Introspection{})
	srv.SetErrorPresenter(presentError)
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		logctx.From(ctx).Error("panic in admin resolver", "panic", fmt.Sprint(p))
		return &auth.Error{Code: auth.CodeInternal, Message: "internal error"}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := authorize(r, svc, access)
		if err != nil {
			writeError(w, r, err)
			return
		}
		srv.ServeHTTP(w, r.WithContext(auth.WithActor(r.Context(), actor)))
	})
}

// authorize decides who the caller is: the secret's holder, or an
// administrator by its bearer access token (only the Authorization header:
// never a cookie, which a browser would send along on its own).
func authorize(r *http.Request, svc *auth.Service, access Access) (string, error) {
	if given, sent := r.Header[SecretHeader]; sent {
		if access.Secret == "" {
			return "", &auth.Error{Code: auth.CodeUnauthenticated, Message: "the admin secret is not set on this server (AUTHGATE_ADMIN_SECRET): use an administrator's access token"}
		}
		if len(given) != 1 || !secretMatches(given[0], access.Secret) {
			return "", &auth.Error{Code: auth.CodeUnauthenticated, Message: SecretHeader + " is wrong"}
		}
		return auth.ActorAdminSecret, nil
	}
	raw, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return "", &auth.Error{Code: auth.CodeUnauthenticated, Message: "the admin API needs " + SecretHeader + " or an administrator's access token (Authorization: Bearer …)"}
	}
	v, err := svc.Authenticate(r.Context(), raw)
	if err != nil {
		return "", err
	}
	ctx := auth.WithPrincipal(r.Context(), auth.PrincipalOf(v))
	return svc.AuthorizeAdmin(ctx, strings.TrimSpace(r.Header.Get("X-Hasura-Role")), access.Roles)
}

// secretMatches compares in constant time, whatever the lengths: both
// sides are hashed first.
func secretMatches(given, secret string) bool {
	a, b := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	t := strings.TrimSpace(h[len(prefix):])
	return t, t != ""
}

// writeError answers a refused request as GraphQL does an error, with the
// status its code means.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *auth.Error
	if !errors.As(err, &ae) {
		logctx.From(r.Context()).Error("admin authorisation failed", "error", err)
		ae = &auth.Error{Code: auth.CodeInternal, Message: "internal error"}
	}
	status := http.StatusInternalServerError
	switch ae.Code {
	case auth.CodeUnauthenticated:
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="authgate-admin"`)
	case auth.CodeForbidden:
		status = http.StatusForbidden
	case auth.CodeUnavailable:
		status = http.StatusServiceUnavailable
	}
	logctx.SetOutcome(r.Context(), logctx.Outcome{Code: string(ae.Code)})
	ext := map[string]any{"code": string(ae.Code)}
	if ae.Reason != "" {
		ext["reason"] = ae.Reason
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []any{map[string]any{"message": ae.Message, "extensions": ext}},
	})
}

// presentError puts an auth.Error's code in extensions.code; gqlgen's own
// errors (parse, validation) read BAD_USER_INPUT; anything else is logged
// and shown as INTERNAL.
func presentError(ctx context.Context, err error) *gqlerror.Error {
	var ae *auth.Error
	if errors.As(err, &ae) {
		if ae.Code == auth.CodeInternal || ae.Code == auth.CodeUnavailable {
			logctx.From(ctx).Error("admin request failed", "code", ae.Code, "error", err)
		}
		ext := map[string]any{"code": string(ae.Code)}
		if s := ae.RetryAfterSeconds(); s > 0 {
			ext["retryAfter"] = s
		}
		return &gqlerror.Error{Message: ae.Message, Path: graphql.GetPath(ctx), Extensions: ext}
	}
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) && gqlErr.Err == nil {
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		if _, ok := gqlErr.Extensions["code"]; !ok {
			gqlErr.Extensions["code"] = string(auth.CodeBadUserInput)
		}
		return gqlErr
	}
	logctx.From(ctx).Error("admin request failed", "error", err)
	return &gqlerror.Error{Message: "internal error", Path: graphql.GetPath(ctx), Extensions: map[string]any{"code": string(auth.CodeInternal)}}
}
