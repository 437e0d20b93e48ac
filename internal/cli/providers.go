package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"authgate/internal/config"
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
