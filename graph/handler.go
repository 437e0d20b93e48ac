package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"authgate/internal/auth"
	"authgate/internal/logctx"
	"authgate/internal/metrics"
)

// Options configures the GraphQL server.
type Options struct {
	// Introspection allows __schema and __type queries.
	Introspection bool
	// Metrics, when set, records every operation's outcome and latency.
	Metrics *metrics.Metrics
	// Providers verifies native ID tokens (signInWithIdToken); nil: no
	// provider is configured.
	Providers IDTokenSignIn
}

// Query cost limits. Every field costs 1; an operation that hashes a
// password costs more than half the budget, so one request can run at most
// one of them however it is aliased.
const (
	complexityLimit    = 200
	passwordOpCost     = 101
	refreshOpCost      = 20
	queryCacheCapacity = 1000
	parserTokenLimit   = 1000
)

// NewServer returns the GraphQL HTTP handler over svc: POST (and GET for
// queries only; gqlgen refuses mutations over GET), with a query cache, a
// complexity limit, and errors presented by code.
func NewServer(svc *auth.Service, opts Options) *handler.Server {
	cfg := Config{Resolvers: &Resolver{Auth: svc, Providers: opts.Providers}}
	passwordOp := func(childComplexity int, _, _ string, _ *string) int { return passwordOpCost }
	cfg.Complexity.Mutation.Login = passwordOp
	cfg.Complexity.Mutation.Signup = func(int, string, string, *string, *string) int { return passwordOpCost }
	cfg.Complexity.Mutation.ChangePassword = func(int, string, string) int { return passwordOpCost }
	// The emailed flows hash a password or count against a mail or code
	// limit: one of them per request, like the password operations.
	cfg.Complexity.Mutation.ResetPassword = func(int, string, string, *string) int { return passwordOpCost }
	cfg.Complexity.Mutation.SendVerificationEmail = func(int, string, *string, *string) int { return passwordOpCost }
	cfg.Complexity.Mutation.RequestPasswordReset = func(int, string, *string, *string) int { return passwordOpCost }
	cfg.Complexity.Mutation.RequestEmailSignIn = func(int, string, *string, *string, *string) int { return passwordOpCost }
	cfg.Complexity.Mutation.SignInWithEmailCode = func(int, string, string, *string) int { return passwordOpCost }
	cfg.Complexity.Mutation.SignInWithEmailToken = func(int, string, *string) int { return passwordOpCost }
	cfg.Complexity.Mutation.VerifyEmail = func(int, string) int { return passwordOpCost }
	// changeEmail counts against a mail limit, confirmEmailChange uses a
	// token: one per request, like the password operations.
	cfg.Complexity.Mutation.ChangeEmail = func(int, string, *string, *string) int { return passwordOpCost }
	cfg.Complexity.Mutation.ConfirmEmailChange = func(int, string) int { return passwordOpCost }
	// The provider sign-ins use a one-time code or verify a token against
	// the provider's keys: one per request too.
	cfg.Complexity.Mutation.ExchangeAuthCode = func(int, string, *string, *string) int { return passwordOpCost }
	cfg.Complexity.Mutation.SignInWithIDToken = func(int, string, string, *string, *string) int { return passwordOpCost }
	cfg.Complexity.Mutation.RefreshToken = func(childComplexity int, _ string) int { return refreshOpCost + childComplexity }

	srv := handler.New(NewExecutableSchema(cfg))
	// Validation is quadratic in repeated fields: bound the query's size
	// before it runs (real queries here are under 100 tokens; the
	// playground's introspection query is a few hundred).
	srv.SetParserTokenLimit(parserTokenLimit)
	srv.AddTransport(checkedPOST{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(unsupportedRequest{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheCapacity))
	srv.Use(extension.FixedComplexityLimit(complexityLimit))
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	}
	if opts.Metrics != nil {
		srv.AroundFields(observeRootFields(opts.Metrics))
	}
	srv.AroundResponses(recordOutcome)
	srv.SetErrorPresenter(presentError)
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		logctx.From(ctx).Error("panic in resolver", "panic", fmt.Sprint(p))
		return &auth.Error{Code: auth.CodeInternal, Message: "internal error"}
	})
	return srv
}

// observeRootFields records each operation (a root field: login,
// refreshToken, …) with its outcome code.
func observeRootFields(m *metrics.Metrics) graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || (fc.Object != "Mutation" && fc.Object != "Query") {
			return next(ctx)
		}
		start := time.Now()
		res, err := next(ctx)
		m.Observe(fc.Field.Name, auth.OutcomeOf(err), time.Since(start))
		return res, err
	}
}

// recordOutcome notes each answer's operation (its root fields, and the
// client's operation name) and outcome code for the request's log line.
// Parse, validation and transport errors pass here too.
func recordOutcome(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	outcome := logctx.Outcome{Code: auth.OutcomeOf(nil)}
	if resp != nil && len(resp.Errors) > 0 {
		outcome.Code = string(auth.CodeInternal)
		if code, ok := resp.Errors[0].Extensions["code"].(string); ok {
			outcome.Code = code
		}
	}
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		outcome.OperationName = truncate(oc.OperationName, maxLoggedName)
		if oc.Operation != nil {
			outcome.Operation = strings.Join(rootFields(oc.Operation.SelectionSet, nil), ",")
			outcome.OperationName = truncate(oc.Operation.Name, maxLoggedName)
		}
	}
	logctx.SetOutcome(ctx, outcome)
	return resp
}

// maxLoggedName bounds a client-chosen operation name in the log; and at
// most maxLoggedFields root fields are named.
const (
	maxLoggedName   = 64
	maxLoggedFields = 5
)

// rootFields names an operation's root fields (not their aliases), through
// fragments, once each, in order.
func rootFields(set ast.SelectionSet, names []string) []string {
	for _, sel := range set {
		if len(names) == maxLoggedFields {
			return append(names[:maxLoggedFields-1], "…")
		}
		switch s := sel.(type) {
		case *ast.Field:
			if !slices.Contains(names, s.Name) {
				names = append(names, s.Name)
			}
		case *ast.InlineFragment:
			names = rootFields(s.SelectionSet, names)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				names = rootFields(s.Definition.SelectionSet, names)
			}
		}
	}
	return names
}

// truncate cuts s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// presentError puts an auth.Error's code in extensions.code, the seconds
// a RATE_LIMITED client should wait in extensions.retryAfter, why a
// bearer token was refused in extensions.reason, and an MFA_REQUIRED
// sign-in's ticket and methods in extensions.ticket and extensions.methods. gqlgen's own
// errors (parse, validation, complexity) keep their codes; anything else is
// logged and shown as INTERNAL, with no detail.
func presentError(ctx context.Context, err error) *gqlerror.Error {
	var ae *auth.Error
	if errors.As(err, &ae) {
		if ae.Code == auth.CodeInternal || ae.Code == auth.CodeUnavailable {
			logctx.From(ctx).Error("request failed", "code", ae.Code, "error", err)
		}
		ext := map[string]any{"code": string(ae.Code)}
		if s := ae.RetryAfterSeconds(); s > 0 {
			ext["retryAfter"] = s
		}
		if ae.Reason != "" {
			ext["reason"] = ae.Reason
		}
		if ae.Ticket != "" {
			ext["ticket"] = ae.Ticket
			ext["methods"] = ae.Methods
		}
		return &gqlerror.Error{Message: ae.Message, Path: graphql.GetPath(ctx), Extensions: ext}
	}
	if fc := graphql.GetFieldContext(ctx); fc != nil && (fc.Field.Name == "__schema" || fc.Field.Name == "__type") {
		return &gqlerror.Error{
			Message:    "introspection is switched off (AUTHGATE_INTROSPECTION)",
			Path:       graphql.GetPath(ctx),
			Extensions: map[string]any{"code": string(auth.CodeForbidden)},
		}
	}
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) && gqlErr.Err == nil {
		if _, ok := gqlErr.Extensions["code"]; ok {
			return gqlErr
		}
		// Parse and validation errors describe the client's query only.
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		gqlErr.Extensions["code"] = string(auth.CodeBadUserInput)
		return gqlErr
	}
	logctx.From(ctx).Error("request failed", "error", err)
	return &gqlerror.Error{
		Message:    "internal error",
		Path:       graphql.GetPath(ctx),
		Extensions: map[string]any{"code": string(auth.CodeInternal)},
	}
}
