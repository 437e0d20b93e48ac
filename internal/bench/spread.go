package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// RevocationSpread is how long a revocation made through one server takes to
// reach another: from the first server's answer to revokeAccessToken until
// the second server's webhook first refuses the token. It crosses
// PostgreSQL's NOTIFY and the second server's LISTEN connection.
type RevocationSpread struct {
	Revocations int     `json:"revocations"`
	Spread      Latency `json:"spread"`
	// Polls is how many webhook requests the second server answered before
	// it refused, over every revocation (each poll is a full request).
	Polls int `json:"polls"`
}

// spreadRounds is how many revocations measureRevocationSpread times.
const spreadRounds = 50

// spreadLimit bounds the wait for one revocation to arrive.
const spreadLimit = 5 * time.Second

var revokeAccessTokenBody = []byte(`{"query":"mutation { revokeAccessToken }"}`)

// measureRevocationSpread signs in through a, checks that b's webhook
// accepts the access token, revokes it through a and polls b's webhook
// until it refuses, spreadRounds times. Each round opens a session (a
// sign-in), so it runs after the integrity check.
func measureRevocationSpread(ctx context.Context, a, b *target) (RevocationSpread, error) {
	wa := &worker{t: a, rng: rand.New(rand.NewPCG(7, 0x5eed)), buf: make([]byte, 0, 512)}
	wb := &worker{t: b}
	defer wa.closeConn()
	defer wb.closeConn()
	var samples []time.Duration
	polls := 0
	for range spreadRounds {
		wa.access = ""
		if code := wa.login(ctx); code != "" {
			return RevocationSpread{}, fmt.Errorf("revocation spread: sign-in through server 1: %s", code)
		}
		wb.access = wa.access
		if code := wb.webhook(ctx); code != "" {
			return RevocationSpread{}, fmt.Errorf("revocation spread: server 2's webhook refused a fresh token: %s", code)
		}
		res, err := wa.send(ctx, http.MethodPost, "/graphql", revokeAccessTokenBody, "Authorization", "Bearer "+wa.access)
		if err != nil {
			return RevocationSpread{}, fmt.Errorf("revocation spread: revokeAccessToken: %w", err)
		}
		if code := revokedOK(res); code != "" {
			return RevocationSpread{}, fmt.Errorf("revocation spread: revokeAccessToken answered %s", code)
		}
		revoked := time.Now()
		for {
			code := wb.webhook(ctx)
			if code == "HTTP_401" {
				break
			}
			if code != "" {
				return RevocationSpread{}, fmt.Errorf("revocation spread: server 2's webhook: %s", code)
			}
			polls++
			if time.Since(revoked) > spreadLimit {
				return RevocationSpread{}, fmt.Errorf("revocation spread: server 2 still accepted a token %s after server 1 revoked it", spreadLimit)
			}
		}
		samples = append(samples, time.Since(revoked))
	}
	return RevocationSpread{Revocations: len(samples), Spread: summarize(samples), Polls: polls}, nil
}

// revokedOK returns "" when a revokeAccessToken answer says true, else a
// code for what it said.
func revokedOK(r response) string {
	var body struct {
		Data struct {
			RevokeAccessToken bool `json:"revokeAccessToken"`
		} `json:"data"`
		Errors gqlErrors `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		return httpCode(r.status, "MALFORMED_RESPONSE")
	}
	if c := body.Errors.code(); c != "" {
		return c
	}
	if r.status != http.StatusOK || !body.Data.RevokeAccessToken {
		return httpCode(r.status, "NOT_REVOKED")
	}
	return ""
}
