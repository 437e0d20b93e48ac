package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"authgate/internal/auth"
	"authgate/internal/hasurameta"
	"authgate/internal/logctx"
)

// actionRequest is the body Hasura sends to an action handler.
type actionRequest struct {
	Action struct {
		Name string `json:"name"`
	} `json:"action"`
	Input            json.RawMessage   `json:"input"`
	SessionVariables map[string]string `json:"session_variables"`
	// RequestQuery is the client's GraphQL request, as Hasura (2.x) sends
	// it: the user's second factors are looked up only when it can select
	// them (see answerFactors).
	RequestQuery *string `json:"request_query"`
}

// action runs one operation from its decoded input.
type action func(ctx context.Context, svc *auth.Service, input json.RawMessage) (any, error)

// actions maps each Hasura action name (the GraphQL field name) to the
// service method behind it, the same one the GraphQL resolver calls.
var actions = map[string]action{
	"signup": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Email       *string `json:"email"`
			Password    *string `json:"password"`
			Description *string `json:"description"`
			Locale      *string `json:"locale"`
		}
		if err := decodeInput(in, &a, arg{"email", &a.Email}, arg{"password", &a.Password}); err != nil {
			return nil, err
		}
		return answer(ctx, svc)(svc.SignupWith(ctx, auth.SignupRequest{Email: *a.Email, Password: *a.Password, Description: a.Description, Locale: a.Locale}))
	},
	"login": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Identifier  *string `json:"identifier"`
			Password    *string `json:"password"`
			Description *string `json:"description"`
		}
		if err := decodeInput(in, &a, arg{"identifier", &a.Identifier}, arg{"password", &a.Password}); err != nil {
			return nil, err
		}
		return answer(ctx, svc)(svc.Login(ctx, *a.Identifier, *a.Password, a.Description))
	},
	"refreshToken": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			RefreshToken *string `json:"refreshToken"`
		}
		if err := decodeInput(in, &a, arg{"refreshToken", &a.RefreshToken}); err != nil {
			return nil, err
		}
		return answer(ctx, svc)(svc.Refresh(ctx, *a.RefreshToken))
	},
	"revoke": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			RefreshToken *string `json:"refreshToken"`
		}
		if err := decodeInput(in, &a, arg{"refreshToken", &a.RefreshToken}); err != nil {
			return nil, err
		}
		return svc.Revoke(ctx, *a.RefreshToken)
	},
	"revokeSession": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			ID *string `json:"id"`
		}
		if err := decodeInput(in, &a, arg{"id", &a.ID}); err != nil {
			return nil, err
		}
		return svc.RevokeSession(ctx, *a.ID)
	},
	"revokeAllSessions": func(ctx context.Context, svc *auth.Service, _ json.RawMessage) (any, error) {
		return svc.RevokeAllSessions(ctx)
	},
	"changePassword": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			OldPassword *string `json:"oldPassword"`
			NewPassword *string `json:"newPassword"`
		}
		if err := decodeInput(in, &a, arg{"oldPassword", &a.OldPassword}, arg{"newPassword", &a.NewPassword}); err != nil {
			return nil, err
		}
		return answer(ctx, svc)(svc.ChangePassword(ctx, *a.OldPassword, *a.NewPassword))
	},
	"changeEmail": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			NewEmail   *string `json:"newEmail"`
			RedirectTo *string `json:"redirectTo"`
			Locale     *string `json:"locale"`
		}
		if err := decodeInput(in, &a, arg{"newEmail", &a.NewEmail}); err != nil {
			return nil, err
		}
		return svc.ChangeEmail(ctx, auth.EmailChangeRequest{NewEmail: *a.NewEmail, RedirectTo: a.RedirectTo, Locale: a.Locale})
	},
	"confirmEmailChange": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Token *string `json:"token"`
		}
		if err := decodeInput(in, &a, arg{"token", &a.Token}); err != nil {
			return nil, err
		}
		return svc.ConfirmEmailChange(ctx, *a.Token)
	},
	"revokeAccessToken": func(ctx context.Context, svc *auth.Service, _ json.RawMessage) (any, error) {
		return svc.RevokeAccessToken(ctx)
	},
	"sendVerificationEmail": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		r, err := decodeEmailRequest(in)
		if err != nil {
			return nil, err
		}
		return svc.SendVerificationEmail(ctx, r)
	},
	"verifyEmail": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Token *string `json:"token"`
		}
		if err := decodeInput(in, &a, arg{"token", &a.Token}); err != nil {
			return nil, err
		}
		return svc.VerifyEmail(ctx, *a.Token)
	},
	"requestPasswordReset": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		r, err := decodeEmailRequest(in)
		if err != nil {
			return nil, err
		}
		return svc.RequestPasswordReset(ctx, r)
	},
	"resetPassword": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Token       *string `json:"token"`
			NewPassword *string `json:"newPassword"`
			Description *string `json:"description"`
		}
		if err := decodeInput(in, &a, arg{"token", &a.Token}, arg{"newPassword", &a.NewPassword}); err != nil {
			return nil, err
		}
		return answer(ctx, svc)(svc.ResetPassword(ctx, *a.Token, *a.NewPassword, a.Description))
	},
	"requestEmailSignIn": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		r, err := decodeEmailRequest(in)
		if err != nil {
			return nil, err
		}
		return svc.RequestEmailSignIn(ctx, r)
	},
	"signInWithEmailToken": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Token       *string `json:"token"`
			Description *string `json:"description"`
		}
		if err := decodeInput(in, &a, arg{"token", &a.Token}); err != nil {
			return nil, err
		}
		return answer(ctx, svc)(svc.SignInWithEmailToken(ctx, *a.Token, a.Description))
	},
	"signInWithEmailCode": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Email       *string `json:"email"`
			Code        *string `json:"code"`
			Description *string `json:"description"`
		}
		if err := decodeInput(in, &a, arg{"email", &a.Email}, arg{"code", &a.Code}); err != nil {
			return nil, err
		}
		return answer(ctx, svc)(svc.SignInWithEmailCode(ctx, *a.Email, *a.Code, a.Description))
	},
	"me": func(ctx context.Context, svc *auth.Service, _ json.RawMessage) (any, error) {
		u, err := svc.Me(ctx)
		if err != nil {
			return nil, err
		}
		return withFactors(ctx, svc, u)
	},
	"enrollTotp": func(ctx context.Context, svc *auth.Service, _ json.RawMessage) (any, error) {
		return svc.EnrollTOTP(ctx)
	},
	"confirmTotp": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Code *string `json:"code"`
		}
		if err := decodeInput(in, &a, arg{"code", &a.Code}); err != nil {
			return nil, err
		}
		return svc.ConfirmTOTP(ctx, *a.Code)
	},
	"disableTotp": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Code *string `json:"code"`
		}
		if err := decodeInput(in, &a, arg{"code", &a.Code}); err != nil {
			return nil, err
		}
		return svc.DisableTOTP(ctx, *a.Code)
	},
	"regenerateRecoveryCodes": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Code *string `json:"code"`
		}
		if err := decodeInput(in, &a, arg{"code", &a.Code}); err != nil {
			return nil, err
		}
		return svc.RegenerateRecoveryCodes(ctx, *a.Code)
	},
	"completeMfa": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Ticket       *string `json:"ticket"`
			Code         *string `json:"code"`
			RecoveryCode *string `json:"recoveryCode"`
			Description  *string `json:"description"`
		}
		if err := decodeInput(in, &a, arg{"ticket", &a.Ticket}); err != nil {
			return nil, err
		}
		return answer(ctx, svc)(svc.CompleteMFA(ctx, *a.Ticket, a.Code, a.RecoveryCode, a.Description))
	},
	"beginPasskeyRegistration": func(ctx context.Context, svc *auth.Service, _ json.RawMessage) (any, error) {
		return svc.BeginPasskeyRegistration(ctx)
	},
	"finishPasskeyRegistration": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Credential auth.JSONObject `json:"credential"`
			Name       *string         `json:"name"`
		}
		if err := decodeInput(in, &a); err != nil {
			return nil, err
		}
		if err := requireObject("credential", a.Credential); err != nil {
			return nil, err
		}
		return svc.FinishPasskeyRegistration(ctx, a.Credential, a.Name)
	},
	"beginPasskeySignIn": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Email *string `json:"email"`
		}
		if err := decodeInput(in, &a); err != nil {
			return nil, err
		}
		return svc.BeginPasskeySignIn(ctx, a.Email)
	},
	"finishPasskeySignIn": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Credential  auth.JSONObject `json:"credential"`
			Description *string         `json:"description"`
		}
		if err := decodeInput(in, &a); err != nil {
			return nil, err
		}
		if err := requireObject("credential", a.Credential); err != nil {
			return nil, err
		}
		return answer(ctx, svc)(svc.FinishPasskeySignIn(ctx, a.Credential, a.Description))
	},
	"removePasskey": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			ID *string `json:"id"`
		}
		if err := decodeInput(in, &a, arg{"id", &a.ID}); err != nil {
			return nil, err
		}
		return svc.RemovePasskey(ctx, *a.ID)
	},
	"mySessions": func(ctx context.Context, svc *auth.Service, _ json.RawMessage) (any, error) {
		return svc.MySessions(ctx)
	},
	"exchangeAuthCode": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Code         *string `json:"code"`
			CodeVerifier *string `json:"codeVerifier"`
			Description  *string `json:"description"`
		}
		if err := decodeInput(in, &a, arg{"code", &a.Code}); err != nil {
			return nil, err
		}
		return answer(ctx, svc)(svc.ExchangeAuthCode(ctx, *a.Code, a.CodeVerifier, a.Description))
	},
	"startIdentityLink": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Provider      *string `json:"provider"`
			RedirectTo    *string `json:"redirectTo"`
			CodeChallenge *string `json:"codeChallenge"`
		}
		if err := decodeInput(in, &a, arg{"provider", &a.Provider}, arg{"redirectTo", &a.RedirectTo}); err != nil {
			return nil, err
		}
		return svc.StartMyIdentityLink(ctx, *a.Provider, *a.RedirectTo, a.CodeChallenge)
	},
	"unlinkIdentity": func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Provider *string `json:"provider"`
		}
		if err := decodeInput(in, &a, arg{"provider", &a.Provider}); err != nil {
			return nil, err
		}
		return svc.UnlinkMyIdentity(ctx, *a.Provider)
	},
}

// IDTokenSignIn signs in with an ID token a provider's native sign-in gave
// a mobile app (internal/oidc verifies it, then auth.SignInWithIdentity):
// the part of ProviderFlows the signInWithIdToken action needs.
type IDTokenSignIn interface {
	SignInWithIdToken(ctx context.Context, provider, idToken string, nonce, description *string) (*auth.AuthPayload, error)
}

// signInWithIDToken is the signInWithIdToken action over providers (nil:
// none is configured, UNKNOWN_PROVIDER).
func signInWithIDToken(providers IDTokenSignIn) action {
	return func(ctx context.Context, svc *auth.Service, in json.RawMessage) (any, error) {
		var a struct {
			Provider    *string `json:"provider"`
			IDToken     *string `json:"idToken"`
			Nonce       *string `json:"nonce"`
			Description *string `json:"description"`
		}
		if err := decodeInput(in, &a, arg{"provider", &a.Provider}, arg{"idToken", &a.IDToken}); err != nil {
			return nil, err
		}
		if providers == nil {
			return nil, auth.ErrUnknownProvider
		}
		return answer(ctx, svc)(providers.SignInWithIdToken(ctx, *a.Provider, *a.IDToken, a.Nonce, a.Description))
	}
}

// decodeEmailRequest decodes the input of a request mutation of the
// emailed flows (email required; redirectTo, locale, description optional).
func decodeEmailRequest(in json.RawMessage) (auth.EmailRequest, error) {
	var a struct {
		Email       *string `json:"email"`
		RedirectTo  *string `json:"redirectTo"`
		Locale      *string `json:"locale"`
		Description *string `json:"description"`
	}
	if err := decodeInput(in, &a, arg{"email", &a.Email}); err != nil {
		return auth.EmailRequest{}, err
	}
	return auth.EmailRequest{Email: *a.Email, RedirectTo: a.RedirectTo, Locale: a.Locale, Description: a.Description}, nil
}

// payloadAnswer is an AuthPayload as an action answers it, the shape of the
// GraphQL type: refreshToken null when the cookie took it.
type payloadAnswer struct {
	*auth.AuthPayload
	RefreshToken *string     `json:"refreshToken"` // shadows the embedded field
	User         *userAnswer `json:"user"`         // shadows the embedded field
}

// userAnswer is a User as an action answers it: with the fields GraphQL
// resolves apart (Hasura picks what the client selected from one answer),
// present whenever the client's request can select them.
type userAnswer struct {
	*auth.User
	TOTPEnabled *bool             `json:"totpEnabled,omitempty"`
	Passkeys    *[]*auth.Passkey  `json:"passkeys,omitempty"`
	Identities  *[]*auth.Identity `json:"identities,omitempty"`
}

type factorsKey struct{}

// answerNeeds is which of the user's fields that GraphQL resolves apart an
// action's answer must carry.
type answerNeeds struct{ factors, identities bool }

// answerFactors says whether an action's answer must carry the user's second
// factors, and its identities: unless Hasura sent the client's query and
// no such field's name is in it (so that no refresh pays a query for
// fields nobody asked for).
func answerFactors(ctx context.Context, query *string) context.Context {
	need := answerNeeds{
		factors:    query == nil || strings.Contains(*query, "totpEnabled") || strings.Contains(*query, "passkeys"),
		identities: query == nil || strings.Contains(*query, "identities"),
	}
	return context.WithValue(ctx, factorsKey{}, need)
}

// withFactors answers u, with its second factors and its identities when
// the request can select them (one indexed query each).
func withFactors(ctx context.Context, svc *auth.Service, u *auth.User) (*userAnswer, error) {
	need, ok := ctx.Value(factorsKey{}).(answerNeeds)
	if !ok {
		need = answerNeeds{factors: true, identities: true}
	}
	a := &userAnswer{User: u}
	if need.factors {
		on, passkeys, err := svc.UserFactors(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		a.TOTPEnabled, a.Passkeys = &on, &passkeys
	}
	if need.identities {
		ids, err := svc.Identities(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		a.Identities = &ids
	}
	return a, nil
}

// answer presents a service's AuthPayload as an action's answer:
// answer(ctx, svc)(svc.Login(…)).
func answer(ctx context.Context, svc *auth.Service) func(*auth.AuthPayload, error) (any, error) {
	return func(p *auth.AuthPayload, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		u, err := withFactors(ctx, svc, p.User)
		if err != nil {
			return nil, err
		}
		return payloadAnswer{p, p.RefreshTokenInBody(), u}, nil
	}
}

// requireObject refuses a missing or null JSON argument.
func requireObject(name string, v auth.JSONObject) error {
	if len(v) == 0 || string(v) == "null" {
		return &auth.Error{Code: auth.CodeBadUserInput, Message: fmt.Sprintf("input.%s is required", name)}
	}
	return nil
}

// arg is a required string argument: its name, and the field it decodes into.
type arg struct {
	name  string
	value **string
}

// decodeInput decodes an action's input into dst and checks that every
// required argument is present and not null (absent and null both leave the
// field nil).
func decodeInput(in json.RawMessage, dst any, required ...arg) error {
	if len(bytes.TrimSpace(in)) == 0 || bytes.Equal(bytes.TrimSpace(in), []byte("null")) {
		in = json.RawMessage("{}")
	}
	if err := json.Unmarshal(in, dst); err != nil {
		return &auth.Error{Code: auth.CodeBadUserInput, Message: "input does not match the action's arguments", Err: err}
	}
	for _, a := range required {
		if *a.value == nil {
			return &auth.Error{Code: auth.CodeBadUserInput, Message: fmt.Sprintf("input.%s is required", a.name)}
		}
	}
	return nil
}

// handleAction serves POST /actions: Hasura calling an action handler. The
// session variables are trusted only because the request carries the shared
// action secret.
func (a *api) handleAction(w http.ResponseWriter, r *http.Request) {
	if a.cfg.ActionSecret == "" {
		writeEarlyError(w, r, http.StatusNotFound, auth.CodeNotFound,
			"Hasura Actions are switched off: set AUTHGATE_ACTION_SECRET (and the same value in Hasura's environment) to turn /actions on")
		return
	}
	got := r.Header.Get("X-Action-Secret")
	if subtle.ConstantTimeCompare([]byte(got), []byte(a.cfg.ActionSecret)) != 1 {
		// Hasura's configuration is wrong, not the client's token: say so
		// where the operator looks.
		logctx.From(r.Context()).Warn("refused an /actions call: X-Action-Secret does not match AUTHGATE_ACTION_SECRET; give Hasura the same AUTHGATE_ACTION_SECRET",
			"header_sent", got != "")
		writeActionError(w, r, &auth.Error{Code: auth.CodeActionSecretMismatch,
			Message: "X-Action-Secret is missing or does not match AUTHGATE_ACTION_SECRET: Hasura and authgate need the same value"})
		return
	}
	var req actionRequest
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		writeActionError(w, r, &auth.Error{Code: auth.CodeBadUserInput, Message: "the body is not a Hasura action request (malformed JSON)"})
		return
	}
	run, ok := a.actions[req.Action.Name]
	if !ok {
		writeActionError(w, r, &auth.Error{Code: auth.CodeBadUserInput, Message: fmt.Sprintf("unknown action %q", truncate(req.Action.Name, 64))})
		return
	}
	logctx.SetOutcome(r.Context(), logctx.Outcome{Operation: req.Action.Name})
	ctx := answerFactors(r.Context(), req.RequestQuery)
	if !hasurameta.IsPublic(req.Action.Name) {
		// Hasura forwards the client's headers: its own access token, if
		// it sent one, comes along.
		var caller auth.HasuraCaller
		caller.AccessToken, caller.TokenPresented = a.cfg.AccessToken.find(r.Header.Values)
		caller.UserID, caller.SessionID = sessionVariables(req.SessionVariables)
		p, err := a.auth.PrincipalFromHasura(ctx, caller)
		if err != nil {
			writeActionError(w, r, err)
			return
		}
		ctx = auth.WithPrincipal(ctx, p)
	}
	start := time.Now()
	out, err := run(ctx, a.auth, req.Input)
	a.cfg.Metrics.Observe(req.Action.Name, auth.OutcomeOf(err), time.Since(start))
	if err != nil {
		writeActionError(w, r, err)
		return
	}
	logctx.SetOutcome(ctx, logctx.Outcome{Code: auth.OutcomeOf(nil)})
	writeJSON(w, http.StatusOK, out)
}

// sessionVariables reads the caller from Hasura's session variables, whose
// names Hasura sends lower-cased (matched case-insensitively).
func sessionVariables(vars map[string]string) (userID, sessionID string) {
	for k, v := range vars {
		switch strings.ToLower(k) {
		case "x-hasura-user-id":
			userID = v
		case "x-hasura-session-id":
			sessionID = v
		}
	}
	return userID, sessionID
}
