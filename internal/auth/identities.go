package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"time"

	"authgate/internal/onetime"
)

// ExternalIdentity is what a provider asserted about its user, after verification.
type ExternalIdentity struct {
	Provider      string // configured provider id, e.g. "google", "corp"
	Subject       string // provider's stable subject ("sub"; GitHub: numeric user id as a string)
	Email         string // may be empty
	EmailVerified bool
}

// Identity is a provider account linked to a user, as its owner sees it.
type Identity struct {
	Provider string `json:"provider"`
	Subject  string `json:"subject"`
	// Email is the address the provider asserted when the identity was
	// linked (nil: none); it decides nothing.
	Email     *string   `json:"email"`
	CreatedAt time.Time `json:"createdAt"`
}

// AMRProvider is the authentication method of a provider sign-in ("fed",
// federated, as Microsoft's tokens name it; RFC 8176 has no name for it).
// It is one factor: a user with TOTP on gets MFA_REQUIRED.
const AMRProvider = "fed"

// Lifetimes of the provider flows' one-time secrets.
const (
	// AuthCodeTTL is how long the code a provider callback hands the app
	// may be exchanged.
	AuthCodeTTL = 60 * time.Second
	// IdentityLinkTTL is how long a link from startIdentityLink may start
	// the provider flow (and, consumed at its callback, end it).
	IdentityLinkTTL = 10 * time.Minute
)

// The events of identities: detail.provider, and for identity_linked
// detail.by ("email": a verified address matched the account's; "user": the
// signed-in user linked it).
const (
	EventIdentityLinked   AuditEventKind = "identity_linked"
	EventIdentityUnlinked AuditEventKind = "identity_unlinked"
)

const (
	maxProviderLength = 64
	maxSubjectLength  = 255
)

var (
	// ErrUnknownProvider answers a provider id that is not configured.
	ErrUnknownProvider = newError(CodeUnknownProvider, "no identity provider with this id is configured")
	// ErrInvalidAuthCode answers an auth code or identity link that is
	// unknown, used, expired or made for another purpose.
	ErrInvalidAuthCode = newError(CodeInvalidAuthCode, "the code is invalid, used or expired; sign in again")
	errAccountExists   = newError(CodeAccountExists, "an account with this email already exists: sign in to it and link this provider from there")
	errIdentityTaken   = newError(CodeAccountExists, "this provider account is already linked to another user")
	errNoProviderEmail = badInput("the provider shared no email address, and a new account needs one")
	errProviderLinked  = badInput("an identity of this provider is already linked to your account: unlink it first")
	errNoSuchIdentity  = newError(CodeNotFound, "no identity of this provider is linked to your account")
	errLastSignInWay   = badInput("this identity is your last way to sign in: set a password (the password-reset flow) or link another provider first")
)

// IdentityOutcome is what ResolveIdentity did.
type IdentityOutcome string

// The outcomes of ResolveIdentity. Only the first three name a user.
const (
	IdentityExisting      IdentityOutcome = "existing"       // the identity was linked already
	IdentityLinked        IdentityOutcome = "linked"         // linked now to the account with its (verified) address
	IdentityCreated       IdentityOutcome = "created"        // a new user was made with it
	IdentityAccountExists IdentityOutcome = "account_exists" // an account has its address, and may not be linked by it
	IdentityNoEmail       IdentityOutcome = "no_email"       // no account, and no address to make one with
	IdentitySignupOff     IdentityOutcome = "signup_off"     // no account, and sign-up is off
)

// IdentityResolution asks the store for the user of an identity.
type IdentityResolution struct {
	Provider, Subject string
	// Email is the provider's address, normalised ("": none or unusable);
	// EmailVerified says the provider asserted it verified.
	Email         string
	EmailVerified bool
	// MayCreate allows making a user (sign-up is on), with DefaultRole and
	// AllowedRoles; Detail goes into its signup audit row.
	MayCreate    bool
	DefaultRole  string
	AllowedRoles []string
	Detail       map[string]any
	Now          time.Time
}

// LinkOutcome is what LinkIdentity did.
type LinkOutcome string

// The outcomes of LinkIdentity.
const (
	LinkMade          LinkOutcome = "linked"   // the identity is now the user's
	LinkAlready       LinkOutcome = "already"  // it was the user's already: nothing changed
	LinkTaken         LinkOutcome = "taken"    // another user has it
	LinkProviderTaken LinkOutcome = "provider" // the user has another identity of this provider
	LinkUserGone      LinkOutcome = "user_gone"
)

// UnlinkOutcome is what UnlinkIdentity did.
type UnlinkOutcome string

// The outcomes of UnlinkIdentity.
const (
	Unlinked        UnlinkOutcome = "unlinked"
	UnlinkNone      UnlinkOutcome = "none"     // the user has no identity of the provider
	UnlinkLastWayIn UnlinkOutcome = "last_way" // it is the user's last way to sign in: kept
)

// IdentityStore is the part of Store behind identities.
type IdentityStore interface {
	// ResolveIdentity finds the user of r's identity, or links it to the
	// account with r.Email when both addresses are verified and the account
	// has no identity of the provider, or makes a user with it when no
	// account has r.Email and r.MayCreate, in one statement that records
	// the link or the sign-up; it returns what it did and the user's id
	// (for the first three outcomes). A racing statement that made the
	// same identity or account meanwhile makes it look again.
	ResolveIdentity(ctx context.Context, r IdentityResolution) (IdentityOutcome, string, error)
	// LinkIdentity links the identity to userID unless another user has it
	// or userID has another of its provider, in one statement that records
	// e (identity_linked) when it links.
	// The link is refused (LinkUserGone) when the user was cut off after
	// askedAt (when the link was asked for): the proof of the user's
	// address, say, ended the session that asked.
	LinkIdentity(ctx context.Context, userID string, id ExternalIdentity, askedAt time.Time, e AuditEvent) (LinkOutcome, error)
	// UnlinkIdentity deletes userID's identity of provider unless it is the
	// user's last way to sign in (no password, no other identity, and no
	// passkey or passkeys do not count), under the user's row lock so that
	// two unlinks cannot each leave the other as the last; it records e
	// (identity_unlinked) when it deletes.
	UnlinkIdentity(ctx context.Context, userID, provider string, passkeysCount bool, e AuditEvent) (UnlinkOutcome, error)
	// Identities lists userID's identities, oldest first.
	Identities(ctx context.Context, userID string) ([]*Identity, error)
}

// authCodeData is an auth code's payload: the provider that signed the
// user in, for the session's audit row, and the PKCE challenge the app
// started the flow with ("" for none), which its exchange must answer.
type authCodeData struct {
	Provider  string `json:"provider"`
	Challenge string `json:"challenge,omitempty"`
}

// identityLinkData is an identity link's payload: the provider it was made for.
type identityLinkData struct {
	Provider string `json:"provider"`
	// Network is a hash of the network (IPv4 /24, IPv6 /64) that asked for
	// the link: only a browser there may follow it. Without it, anyone could
	// ask for a link to their own account and have a victim's browser open
	// it; a victim signed in at the provider comes straight back, and the
	// victim's identity would be linked to the attacker's account.
	Network string `json:"network"`
}

// linkNetwork is identityLinkData.Network for the client of ctx: a hash, so
// the token's row holds no address.
func linkNetwork(ctx context.Context) string {
	sum := sha256.Sum256([]byte("authgate identity link network v1\x00" + networkOf(ClientFrom(ctx).IP)))
	return hex.EncodeToString(sum[:16])
}

// check refuses a link followed from another network than the one that
// asked for it, or made for another provider (provider "" checks only the
// network). Errors: INVALID_AUTH_CODE.
func (d identityLinkData) check(ctx context.Context, provider string) error {
	if d.Provider == "" || (provider != "" && d.Provider != provider) ||
		subtle.ConstantTimeCompare([]byte(d.Network), []byte(linkNetwork(ctx))) != 1 {
		return ErrInvalidAuthCode
	}
	return nil
}

// providerSignIn is what a provider sign-in proved.
func providerSignIn(provider string) VerifiedSignIn {
	return VerifiedSignIn{Method: "provider", AMR: []string{AMRProvider}, Provider: provider}
}

// configuredProvider refuses a provider id that is not configured.
func (s *Service) configuredProvider(provider string) error {
	if !slices.Contains(s.cfg.Providers, provider) {
		return ErrUnknownProvider
	}
	return nil
}

// checkIdentity refuses an identity that is not configured or that the
// database could not store. It returns the provider's address normalised,
// or "" when there is none or it is no address authgate can hold.
func (s *Service) checkIdentity(id ExternalIdentity) (string, error) {
	if err := s.configuredProvider(id.Provider); err != nil {
		return "", err
	}
	if id.Subject == "" || len(id.Subject) > maxSubjectLength || !storable(id.Subject) {
		return "", badInput(fmt.Sprintf("the provider's subject must be valid UTF-8 of 1 to %d bytes", maxSubjectLength))
	}
	email, err := NormalizeEmail(id.Email)
	if err != nil {
		return "", nil
	}
	return email, nil
}

// resolveIdentity finds, links or makes the user of id by the rules of
// issue 15 (see IdentityStore.ResolveIdentity) and returns its id.
// Errors: ACCOUNT_EXISTS, FORBIDDEN (sign-up off), BAD_USER_INPUT,
// UNKNOWN_PROVIDER, UNAVAILABLE.
func (s *Service) resolveIdentity(ctx context.Context, id ExternalIdentity) (string, error) {
	email, err := s.checkIdentity(id)
	if err != nil {
		return "", err
	}
	outcome, userID, err := s.store.ResolveIdentity(ctx, IdentityResolution{
		Provider: id.Provider, Subject: id.Subject, Email: email, EmailVerified: id.EmailVerified && email != "",
		MayCreate: s.cfg.SignupEnabled, DefaultRole: s.cfg.SignupRole, AllowedRoles: []string{s.cfg.SignupRole},
		Detail: providerSignIn(id.Provider).AuditDetail(), Now: s.clock.Now(),
	})
	if err != nil {
		return "", err
	}
	switch outcome {
	case IdentityExisting, IdentityLinked, IdentityCreated:
		return userID, nil
	case IdentityAccountExists:
		return "", errAccountExists
	case IdentityNoEmail:
		return "", errNoProviderEmail
	case IdentitySignupOff:
		return "", ErrSignupDisabled
	}
	return "", fmt.Errorf("unexpected identity outcome %q", outcome)
}

// SignInWithIdentity: native ID-token sign-in (already verified by internal/oidc). Finds/links/creates the user by the
// rules of issue 15 and opens a session through signInVerified (so MFA_REQUIRED etc. apply). Codes: ACCOUNT_EXISTS,
// USER_DISABLED, MFA_REQUIRED, FORBIDDEN (sign-up off and no account), BAD_USER_INPUT.
//
// An existing identity signs its user in. A new one is linked to the
// account with the provider's address only when the provider asserts it
// verified and the account's address is verified too; any other match is
// ACCOUNT_EXISTS (a password account registered with someone else's
// address must not be taken over, nor take over, by a provider sign-in).
// With no account of that address a user is made (the sign-up role; the
// address verified when the provider says so) while sign-up is on.
// Also UNKNOWN_PROVIDER, INVALID_CREDENTIALS (the user vanished or was cut
// off meanwhile), UNAVAILABLE.
func (s *Service) SignInWithIdentity(ctx context.Context, id ExternalIdentity, description *string) (*AuthPayload, error) {
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	userID, err := s.resolveIdentity(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.signInVerified(ctx, userID, providerSignIn(id.Provider), description)
}

// IssueAuthCode: the browser callback's end. linkToken=="" → find/link/create the user as above; else the token from
// StartIdentityLink names the signed-in user to link the identity to (consumed here, once). Returns the one-time code
// (onetime purpose auth_code, 60 s) that the callback appends as ?code=. Same codes as above + INVALID_AUTH_CODE for a
// bad/used link token; ACCOUNT_EXISTS also when the identity belongs to another user.
//
// codeChallenge is the app's PKCE S256 challenge that /auth/{id}/start was
// given ("" for none): stored with the code, it makes ExchangeAuthCode ask
// for its verifier. A malformed one is BAD_USER_INPUT, before anything else.
//
// A disabled or banned user gets USER_DISABLED here already; MFA_REQUIRED
// comes from ExchangeAuthCode, where the app can finish with completeMfa.
// A link for a user that has another identity of the provider is
// BAD_USER_INPUT; a link token made for another provider INVALID_AUTH_CODE.
func (s *Service) IssueAuthCode(ctx context.Context, id ExternalIdentity, linkToken, codeChallenge string) (string, error) {
	if codeChallenge != "" {
		if err := CheckCodeChallenge(codeChallenge); err != nil {
			return "", err
		}
	}
	var userID string
	if linkToken == "" {
		var err error
		if userID, err = s.resolveIdentity(ctx, id); err != nil {
			return "", err
		}
	} else {
		email, err := s.checkIdentity(id)
		if err != nil {
			return "", err
		}
		id.Email = email
		t, err := s.ConsumeOneTimeToken(ctx, onetime.IdentityLink, linkToken)
		if err != nil {
			return "", err
		}
		var data identityLinkData
		if json.Unmarshal(t.Data, &data) != nil || data.check(ctx, id.Provider) != nil || t.UserID == "" {
			return "", ErrInvalidAuthCode
		}
		if err := s.linkIdentity(ctx, t.UserID, id, t.CreatedAt); err != nil {
			return "", err
		}
		userID = t.UserID
	}
	if _, err := s.signInUser(ctx, userID, providerSignIn(id.Provider)); err != nil {
		return "", err
	}
	data, err := json.Marshal(authCodeData{Provider: id.Provider, Challenge: codeChallenge})
	if err != nil {
		return "", err
	}
	issued, err := s.IssueOneTimeToken(ctx, OneTimeRequest{Purpose: onetime.AuthCode, UserID: userID, TTL: AuthCodeTTL, Data: data})
	if err != nil {
		return "", err
	}
	return issued.Token, nil
}

// linkIdentity links id (its Email normalised by checkIdentity) to userID,
// for a link asked for at askedAt.
// Errors: ACCOUNT_EXISTS (another user has it), BAD_USER_INPUT (the user
// has another of its provider), INVALID_AUTH_CODE (the user is gone, or
// was cut off since the link was asked for), UNAVAILABLE.
func (s *Service) linkIdentity(ctx context.Context, userID string, id ExternalIdentity, askedAt time.Time) error {
	outcome, err := s.store.LinkIdentity(ctx, userID, id, askedAt,
		auditEvent(ctx, s.clock.Now(), EventIdentityLinked, userID, "", map[string]any{"provider": id.Provider, "by": "user"}))
	if err != nil {
		return err
	}
	switch outcome {
	case LinkMade, LinkAlready:
		return nil
	case LinkTaken:
		return errIdentityTaken
	case LinkProviderTaken:
		return errProviderLinked
	case LinkUserGone:
		return ErrInvalidAuthCode
	}
	return fmt.Errorf("unexpected link outcome %q", outcome)
}

// CheckIdentityLink: validates (does not consume) a link token at /auth/{id}/start; returns the provider it was made for.
// Errors: INVALID_AUTH_CODE (unknown, used, expired, or opened from another
// network than the one startIdentityLink was called from), UNAVAILABLE.
func (s *Service) CheckIdentityLink(ctx context.Context, linkToken string) (provider string, err error) {
	t, err := s.PeekOneTimeToken(ctx, onetime.IdentityLink, linkToken)
	if err != nil {
		return "", err
	}
	var data identityLinkData
	if json.Unmarshal(t.Data, &data) != nil || data.check(ctx, "") != nil {
		return "", ErrInvalidAuthCode
	}
	return data.Provider, nil
}

// ExchangeAuthCode: code → session, once (INVALID_AUTH_CODE otherwise).
// Of two racing exchanges of one code, one wins. The session is a
// provider sign-in's (one factor): a user with TOTP on gets MFA_REQUIRED.
//
// codeVerifier answers the PKCE challenge the flow was started with: a
// code issued with a challenge needs the verifier whose S256 it is; a code
// issued without one refuses any verifier (so an app that always sends one
// is never handed a code of a flow it did not start). Either refusal is
// INVALID_AUTH_CODE and spends the code: it is consumed in one statement
// before the verifier is compared, so whoever holds a stolen code gets one
// guess, and two racing exchanges cannot both pass. The refusal is audited
// (login_failed) on the code's user.
//
// Errors: INVALID_AUTH_CODE, USER_DISABLED, MFA_REQUIRED, BAD_USER_INPUT
// (the description: the code is not spent), INVALID_CREDENTIALS (the user
// vanished or was cut off since the code was made), UNAVAILABLE.
func (s *Service) ExchangeAuthCode(ctx context.Context, code string, codeVerifier, description *string) (*AuthPayload, error) {
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	t, err := s.ConsumeOneTimeToken(ctx, onetime.AuthCode, code)
	if err != nil {
		return nil, err
	}
	var data authCodeData
	if json.Unmarshal(t.Data, &data) != nil || t.UserID == "" {
		return nil, ErrInvalidAuthCode
	}
	v := providerSignIn(data.Provider)
	if err := checkCodeVerifier(data.Challenge, codeVerifier); err != nil {
		if aerr := s.signInRefused(ctx, t.UserID, v, "code verifier refused"); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	v.ProvenAt = t.CreatedAt // a cut-off since (the proof of the address, a revocation) kills the code
	return s.signInVerified(ctx, t.UserID, v, description)
}

// StartIdentityLink: for the signed-in user; returns AUTHGATE_PUBLIC_URL + "/auth/{provider}/start?redirectTo=<url>&link=<token>"
// (redirectTo checked against the allow-list here too). UNKNOWN_PROVIDER if provider is not configured.
// The link works once, for IdentityLinkTTL. codeChallenge, when given, is
// the app's PKCE S256 challenge, added to the URL as &codeChallenge= (the
// code that comes back then needs its verifier, as for a sign-in).
// Errors: UNKNOWN_PROVIDER, BAD_USER_INPUT (redirectTo, codeChallenge),
// UNAVAILABLE.
func (s *Service) StartIdentityLink(ctx context.Context, userID, provider, redirectTo string, codeChallenge *string) (string, error) {
	if err := s.configuredProvider(provider); err != nil {
		return "", err
	}
	if codeChallenge != nil {
		if err := CheckCodeChallenge(*codeChallenge); err != nil {
			return "", err
		}
	}
	target, err := s.linkTarget(&redirectTo)
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(identityLinkData{Provider: provider, Network: linkNetwork(ctx)})
	if err != nil {
		return "", err
	}
	issued, err := s.IssueOneTimeToken(ctx, OneTimeRequest{Purpose: onetime.IdentityLink, UserID: userID, TTL: IdentityLinkTTL, Data: data})
	if err != nil {
		return "", err
	}
	q := url.Values{"redirectTo": {target.String()}, "link": {issued.Token}}
	if codeChallenge != nil {
		q.Set("codeChallenge", *codeChallenge)
	}
	return s.cfg.PublicURL + "/auth/" + url.PathEscape(provider) + "/start?" + q.Encode(), nil
}

// StartMyIdentityLink is StartIdentityLink for the caller (the
// startIdentityLink operation). Errors: UNAUTHENTICATED, and as
// StartIdentityLink.
func (s *Service) StartMyIdentityLink(ctx context.Context, provider, redirectTo string, codeChallenge *string) (string, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return "", err
	}
	return s.StartIdentityLink(ctx, p.UserID, provider, redirectTo, codeChallenge)
}

// UnlinkIdentity removes userID's identity of provider, unless it is the
// user's last way to sign in: no password, no other identity, and no
// passkey (which counts while passkeys are configured: a passkey signs in
// alone). Audited. Errors: BAD_USER_INPUT (the last way in), NOT_FOUND (no
// identity of that provider), UNAVAILABLE.
func (s *Service) UnlinkIdentity(ctx context.Context, userID, provider string) (bool, error) {
	if !isUUID(userID) || len(provider) > maxProviderLength || !storable(provider) {
		return false, errNoSuchIdentity
	}
	outcome, err := s.store.UnlinkIdentity(ctx, userID, provider, s.cfg.MFA.Passkeys != nil,
		auditEvent(ctx, s.clock.Now(), EventIdentityUnlinked, userID, "", map[string]any{"provider": provider}))
	if err != nil {
		return false, err
	}
	switch outcome {
	case Unlinked:
		return true, nil
	case UnlinkLastWayIn:
		return false, errLastSignInWay
	default:
		return false, errNoSuchIdentity
	}
}

// UnlinkMyIdentity is UnlinkIdentity for the caller (the unlinkIdentity
// operation). Errors: UNAUTHENTICATED, and as UnlinkIdentity.
func (s *Service) UnlinkMyIdentity(ctx context.Context, provider string) (bool, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return false, err
	}
	return s.UnlinkIdentity(ctx, p.UserID, provider)
}

// Identities lists userID's identities, oldest first (User.identities).
// Errors: UNAVAILABLE.
func (s *Service) Identities(ctx context.Context, userID string) ([]*Identity, error) {
	if !isUUID(userID) {
		return []*Identity{}, nil // no user has such an id
	}
	ids, err := s.store.Identities(ctx, userID)
	if ids == nil && err == nil {
		ids = []*Identity{}
	}
	return ids, err
}
