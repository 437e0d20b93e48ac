package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"authgate/internal/auth"
	"authgate/internal/logctx"
	"authgate/internal/oidc"
)

// ProviderFlows runs provider sign-ins (*oidc.Service): the browser's
// routes, and the native ID-token sign-in (the signInWithIdToken action).
type ProviderFlows interface {
	// SignInWithIdToken verifies a native app's ID token and signs its user
	// in (auth.SignInWithIdentity).
	SignInWithIdToken(ctx context.Context, provider, idToken string, nonce, description *string) (*auth.AuthPayload, error)
	// Start answers GET /auth/{id}/start.
	Start(ctx context.Context, id, redirectTo, linkToken, codeChallenge string, cookies ...*http.Cookie) oidc.Result
	// Callback answers GET /auth/{id}/callback.
	Callback(ctx context.Context, id string, query url.Values, cookies []*http.Cookie) oidc.Result
}

// noProviders is the routes' answer when AUTHGATE_PROVIDERS is empty.
var noProviders = oidc.Result{Err: &auth.Error{Code: oidc.CodeUnknownProvider, Message: "no identity provider is configured (AUTHGATE_PROVIDERS)"}}

// handleProviderStart sends the browser to the provider:
// GET /auth/{id}/start?redirectTo=URL[&link=TOKEN][&codeChallenge=S256].
func (a *api) handleProviderStart(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Providers == nil {
		a.writeFlow(w, r, noProviders)
		return
	}
	q := r.URL.Query()
	a.writeFlow(w, r, a.cfg.Providers.Start(r.Context(), r.PathValue("id"), q.Get("redirectTo"), q.Get("link"), q.Get("codeChallenge"), r.Cookies()...))
}

// handleProviderCallback is where the provider sends the browser back:
// GET /auth/{id}/callback?code=…&state=….
func (a *api) handleProviderCallback(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Providers == nil {
		a.writeFlow(w, r, noProviders)
		return
	}
	a.writeFlow(w, r, a.cfg.Providers.Callback(r.Context(), r.PathValue("id"), r.URL.Query(), r.Cookies()))
}

// writeFlow answers with a flow step's result: a 302 to its Location, or,
// when there is no checked page to send the browser to, a plain 400 page
// naming the code.
func (a *api) writeFlow(w http.ResponseWriter, r *http.Request, res oidc.Result) {
	for _, c := range res.Cookies {
		http.SetCookie(w, c)
	}
	code, message := "OK", "internal error"
	if res.Err != nil {
		code = string(auth.CodeOf(res.Err))
		var ae *auth.Error
		if errors.As(res.Err, &ae) {
			message = ae.Message
		}
		switch {
		case ae == nil:
			logctx.From(r.Context()).Error("provider sign-in failed", "error", res.Err.Error())
		case ae.Err != nil:
			// The cause (what the provider answered) is for the operator,
			// never for the page.
			logctx.From(r.Context()).Warn("provider sign-in failed", "code", code, "provider", r.PathValue("id"), "error", ae.Err.Error())
		}
	}
	logctx.SetOutcome(r.Context(), logctx.Outcome{Operation: "provider " + truncate(r.PathValue("id"), 40), Code: code})
	if res.Location != "" {
		http.Redirect(w, r, res.Location, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte("Sign-in failed: " + code + "\n\n" + message + "\n"))
}
