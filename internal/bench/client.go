package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// maxResponseBytes bounds what the tool reads of one response.
const maxResponseBytes = 1 << 20

// newHTTPClient returns a client tuned for many concurrent requests to one
// host, which refuses to dial anything but the loopback interface.
func newHTTPClient(clients int, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if err := requireLoopback(addr); err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, addr)
		},
		// Every client keeps its connection: no churn, no TIME_WAIT pile-up.
		MaxIdleConns:          2 * clients,
		MaxIdleConnsPerHost:   2 * clients,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// requireLoopback refuses any address (host:port) but a loopback one: the
// tool never sends anything elsewhere.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("authgate-bench only talks to the loopback interface, not %s", addr)
	}
	return nil
}

// response is what the tool keeps of an HTTP exchange.
type response struct {
	status int
	body   []byte
}

// get sends a GET with the given extra headers.
func get(ctx context.Context, hc *http.Client, url string, headers ...string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return response{}, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(hc, req)
}

func do(hc *http.Client, req *http.Request) (response, error) {
	res, err := hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	// Reading to the end lets the connection be reused.
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	if err != nil {
		return response{}, err
	}
	return response{status: res.StatusCode, body: b}, nil
}

// transportCode names a failure that never produced an HTTP response.
func transportCode(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "TIMEOUT"
	case errors.Is(err, context.Canceled):
		return "CANCELED"
	}
	return "TRANSPORT"
}

// Request bodies are written by hand: the shapes are fixed and the tool
// should spend its CPU on sending, not on reflection.

const (
	refreshMutation = `mutation Refresh($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }`
	loginMutation   = `mutation Login($i: String!, $p: String!) { login(identifier: $i, password: $p, description: \"authgate-bench\") { accessToken refreshToken } }`
	mySessionsQuery = `query MySessions { mySessions { id lastActivityAt current } }`
)

// refreshGraphQLBody is a refreshToken mutation with the token as a
// variable, as a real client sends it (the query text stays the same, so the
// server's query cache applies).
func refreshGraphQLBody(dst []byte, token string) []byte {
	dst = append(dst, `{"query":"`+refreshMutation+`","variables":{"t":`...)
	dst = appendJSONString(dst, token)
	return append(dst, "}}"...)
}

// refreshActionBody is what Hasura sends to an action handler for the
// refreshToken action.
func refreshActionBody(dst []byte, token string) []byte {
	dst = append(dst, `{"action":{"name":"refreshToken"},"input":{"refreshToken":`...)
	dst = appendJSONString(dst, token)
	dst = append(dst, `},"session_variables":{"x-hasura-role":"anonymous"},"request_query":"`+refreshMutation+`"}`...)
	return dst
}

// loginGraphQLBody is a login mutation with identifier and password as
// variables.
func loginGraphQLBody(dst []byte, identifier, password string) []byte {
	dst = append(dst, `{"query":"`+loginMutation+`","variables":{"i":`...)
	dst = appendJSONString(dst, identifier)
	dst = append(dst, `,"p":`...)
	dst = appendJSONString(dst, password)
	return append(dst, "}}"...)
}

// mySessionsBody is the mySessions query.
var mySessionsBody = []byte(`{"query":"` + mySessionsQuery + `"}`)

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, `\u00`...)
				dst = append(dst, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// tokens is the part of an AuthPayload the tool uses.
type tokens struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
}

// gqlErrors is the errors array of a GraphQL response.
type gqlErrors []struct {
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

func (e gqlErrors) code() string {
	if len(e) == 0 {
		return ""
	}
	if c := e[0].Extensions.Code; c != "" {
		return c
	}
	return "GRAPHQL_ERROR"
}

// decodeGraphQLTokens reads data.<field>{accessToken refreshToken} from a
// GraphQL response; code is "" on success, else the error's
// extensions.code.
func decodeGraphQLTokens(r response, field string) (t tokens, code string) {
	var body struct {
		Data   map[string]*tokens `json:"data"`
		Errors gqlErrors          `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		return tokens{}, httpCode(r.status, "MALFORMED_RESPONSE")
	}
	if c := body.Errors.code(); c != "" {
		return tokens{}, c
	}
	p := body.Data[field]
	if r.status != http.StatusOK || p == nil || p.RefreshToken == "" {
		return tokens{}, httpCode(r.status, "MALFORMED_RESPONSE")
	}
	return *p, ""
}

// decodeActionTokens reads an action's AuthPayload, or the code of its
// {message, extensions:{code}} error.
func decodeActionTokens(r response) (t tokens, code string) {
	if r.status != http.StatusOK {
		var e struct {
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		}
		if json.Unmarshal(r.body, &e) == nil && e.Extensions.Code != "" {
			return tokens{}, e.Extensions.Code
		}
		return tokens{}, httpCode(r.status, "")
	}
	if err := json.Unmarshal(r.body, &t); err != nil || t.RefreshToken == "" {
		return tokens{}, "MALFORMED_RESPONSE"
	}
	return t, ""
}

// decodeMySessions checks a mySessions response: code is "" when it holds a
// list with at least the caller's session.
func decodeMySessions(r response) (n int, code string) {
	var body struct {
		Data *struct {
			MySessions []struct {
				ID string `json:"id"`
			} `json:"mySessions"`
		} `json:"data"`
		Errors gqlErrors `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		return 0, httpCode(r.status, "MALFORMED_RESPONSE")
	}
	if c := body.Errors.code(); c != "" {
		return 0, c
	}
	if body.Data == nil || len(body.Data.MySessions) == 0 {
		return 0, httpCode(r.status, "MALFORMED_RESPONSE")
	}
	return len(body.Data.MySessions), ""
}

// httpCode names an unexpected answer: HTTP_<status> for a non-200, else
// fallback.
func httpCode(status int, fallback string) string {
	if status != http.StatusOK || fallback == "" {
		return "HTTP_" + strconv.Itoa(status)
	}
	return fallback
}
