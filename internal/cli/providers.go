package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"authgate/internal/config"
	"authgate/internal/httpapi"
	"authgate/internal/oidc"
)

// runProviders prints each configured provider's callback URL (what to
// register with the provider) and fetches its discovery document; it
// fails when one does not answer or does not match its issuer.
func runProviders(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("providers", env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return err
	}
	if len(cfg.Providers) == 0 {
		fmt.Fprintln(env.Stdout, "no identity providers are configured (AUTHGATE_PROVIDERS)")
		return nil
	}
	// Nothing is sealed here: any key will do.
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	svc, err := oidc.New(oidc.Options{Providers: cfg.Providers, Secret: key}, nil)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTYPE\tCALLBACK URL\tDISCOVERY")
	failed := 0
	for _, p := range cfg.Providers {
		status := "ok: " + p.Issuer
		if !p.OpenID() {
			status = "none (OAuth 2 and the user API at " + p.APIURL + ")"
		} else {
			checkCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := svc.CheckDiscovery(checkCtx, p.ID); err != nil {
				failed++
				cause := errors.Unwrap(err)
				if cause == nil {
					cause = err
				}
				status = "FAILED: " + oneLine(cause)
			}
			cancel()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.ID, p.Type, p.CallbackURL, status)
	}
	w.Flush()
	if failed > 0 {
		return fmt.Errorf("%d of %d providers failed discovery", failed, len(cfg.Providers))
	}
	return nil
}

// providerIDs are the configured providers' ids, for auth.Config.
func providerIDs(providers []config.Provider) []string {
	var ids []string
	for _, p := range providers {
		ids = append(ids, p.ID)
	}
	return ids
}

// providerFlows builds the provider sign-ins over the parts, or returns nil
// when no provider is configured. The flow cookie is sealed under a key
// derived from the refresh-token secret (sealbox separates purposes), so
// the previous secrets keep flows in progress across a rotation.
func providerFlows(cfg *config.Config, p *parts) (*oidc.Service, error) {
	if len(cfg.Providers) == 0 {
		return nil, nil
	}
	previous := make([][]byte, len(cfg.RefreshTokenPreviousSecrets))
	for i, s := range cfg.RefreshTokenPreviousSecrets {
		previous[i] = []byte(s)
	}
	return oidc.New(oidc.Options{
		Providers: cfg.Providers, Redirects: cfg.Redirects,
		Secret: []byte(cfg.RefreshTokenSecret), Previous: previous,
		// Browsers keep Secure cookies from plain-http pages only on
		// localhost, and config allows plain http nowhere else.
		InsecureCookie: strings.HasPrefix(cfg.PublicURL, "http://"),
		Clock:          p.clock,
	}, p.auth)
}

// providerFlowsOrNil keeps a nil *oidc.Service from becoming a non-nil
// interface.
func providerFlowsOrNil(s *oidc.Service) httpapi.ProviderFlows {
	if s == nil {
		return nil
	}
	return s
}
