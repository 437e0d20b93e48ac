package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"authgate/internal/auth"
	"authgate/internal/logctx"
)

// middleware wraps every route: request id and logger, security headers,
// panic recovery, a request deadline, the body limit, the client's address
// and user agent, and the refusal of GraphQL mutations over GET.
func (a *api) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r)
		w.Header().Set("X-Request-Id", id)
		setSecurityHeaders(w.Header(), r)
		sw := &statusWriter{ResponseWriter: w}
		ctx, outcome := logctx.WithOutcome(r.Context())
		defer func() {
			if p := recover(); p != nil {
				a.logger.Error("panic", "request_id", id, "panic", fmt.Sprint(p), "path", r.URL.Path)
				outcome.Code = string(auth.CodeInternal)
				if sw.status == 0 {
					writeEarlyError(sw, r, http.StatusInternalServerError, auth.CodeInternal, "internal error")
				}
			}
			// The access log line; skipped, with no allocation, below info.
			if a.logger.Enabled(r.Context(), slog.LevelInfo) {
				attrs := []slog.Attr{slog.String("request_id", id),
					slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", sw.status),
					slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000)}
				if outcome.Operation != "" {
					attrs = append(attrs, slog.String("operation", outcome.Operation))
				}
				if outcome.OperationName != "" {
					attrs = append(attrs, slog.String("operation_name", outcome.OperationName))
				}
				if outcome.Code != "" {
					attrs = append(attrs, slog.String("code", outcome.Code))
				}
				a.logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
			}
		}()

		ctx = logctx.WithRequest(ctx, a.logger, id)
		if a.cfg.RequestTimeout > 0 {
			var cancel func()
			ctx, cancel = context.WithTimeout(ctx, a.cfg.RequestTimeout)
			defer cancel()
		}
		ctx = auth.WithClient(ctx, auth.Client{IP: clientIP(r, a.cfg.TrustedProxies, a.cfg.TrustedProxyHops), UserAgent: userAgent(r)})
		r = r.WithContext(ctx)

		if r.Body != nil && r.Method != http.MethodGet {
			body, err := io.ReadAll(http.MaxBytesReader(sw, r.Body, MaxBodyBytes))
			if err != nil {
				var tooLarge *http.MaxBytesError
				if errors.As(err, &tooLarge) {
					writeEarlyError(sw, r, http.StatusRequestEntityTooLarge, auth.CodeBadUserInput, fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes))
					return
				}
				writeEarlyError(sw, r, http.StatusBadRequest, auth.CodeBadUserInput, "could not read the request body")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Path == "/graphql" && refuseGETNonQuery(sw, r) {
			return
		}
		next.ServeHTTP(sw, r)
	})
}

// apiCSP is the Content-Security-Policy of every answer but the
// playground page's (which sets its own): authgate serves JSON, which must
// never run, load, frame or be framed as a document.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// setSecurityHeaders sets the headers every answer carries. The playground
// page (GET /) runs its own scripts, so its handler sets a policy allowing
// exactly those.
func setSecurityHeaders(h http.Header, r *http.Request) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	if !(r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead)) {
		h.Set("Content-Security-Policy", apiCSP)
	}
}

// statusWriter remembers the status written, for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// requestID keeps a sane incoming X-Request-Id (so ids follow a request
// across services) or makes a new one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && isToken(id) {
		return id
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func isToken(s string) bool {
	for _, c := range s {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// userAgent prefers X-Forwarded-User-Agent, which Hasura sets to its
// client's user agent when it calls an action.
func userAgent(r *http.Request) string {
	if ua := r.Header.Get("X-Forwarded-User-Agent"); ua != "" {
		return ua
	}
	return r.UserAgent()
}

// clientIP is where a request came from: the connection's peer, unless
// X-Forwarded-For can be believed.
//
// Through Hasura (/actions, whose secret proves the peer is Hasura) the
// header is the client's own: Hasura forwards it and appends nothing. So
// the peer (Hasura) is recorded, unless hops proxies in front of Hasura
// append the real address: then the hops-th entry from the right.
//
// On the other doors the header is read only from a trusted peer: the
// hops-th entry from the right when hops is set, else the header is walked
// from the right, past trusted proxies, to the first address a trusted
// proxy saw. A client can prepend anything, so nothing further left is
// believed. An entry that is not an address gives the peer.
func clientIP(r *http.Request, trusted []netip.Prefix, hops int) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	peer = peer.Unmap()
	viaHasura := r.URL.Path == "/actions"
	if (!viaHasura && !isTrusted(peer, trusted)) || (viaHasura && hops == 0) {
		return peer.String()
	}
	entries := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	if hops > 0 {
		if hops > len(entries) {
			return peer.String()
		}
		addr, err := netip.ParseAddr(strings.TrimSpace(entries[len(entries)-hops]))
		if err != nil {
			return peer.String()
		}
		return addr.Unmap().String()
	}
	for i := len(entries) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(entries[i]))
		if err != nil {
			break
		}
		addr = addr.Unmap()
		if !isTrusted(addr, trusted) {
			return addr.String()
		}
		peer = addr
	}
	return peer.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
