package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"golang.org/x/oauth2"
)

// githubUser is the part of GET /user a sign-in needs.
type githubUser struct {
	ID int64 `json:"id"`
}

// githubEmail is one entry of GET /user/emails.
type githubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// githubIdentity asks GitHub's user API who the token belongs to: the
// subject is the numeric user id (a login can be renamed and reused), the
// email the primary one, verified only when GitHub says so.
func (s *Service) githubIdentity(ctx context.Context, p *provider, tok *oauth2.Token) (Identity, error) {
	var user githubUser
	if err := s.githubGet(ctx, p, tok, "/user", &user); err != nil {
		return Identity{}, err
	}
	if user.ID <= 0 {
		return Identity{}, providerError("GitHub's user API sent no user id", nil)
	}
	var emails []githubEmail
	if err := s.githubGet(ctx, p, tok, "/user/emails", &emails); err != nil {
		return Identity{}, err
	}
	id := Identity{Provider: p.cfg.ID, Subject: strconv.FormatInt(user.ID, 10)}
	for _, e := range emails {
		if e.Primary {
			id.Email, id.EmailVerified = e.Email, e.Verified
		}
	}
	return id, nil
}

// githubGet GETs path from GitHub's API with the user's token into out.
func (s *Service) githubGet(ctx context.Context, p *provider, tok *oauth2.Token, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.APIURL+path, nil)
	if err != nil {
		return providerError("GitHub's user API failed", err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return providerError("GitHub's user API does not answer", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return providerError("GitHub's user API failed", err)
	}
	if resp.StatusCode != http.StatusOK {
		return providerError("GitHub's user API refused", fmt.Errorf("GET %s: %s", path, resp.Status))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return providerError("GitHub's user API sent what does not parse", err)
	}
	return nil
}
