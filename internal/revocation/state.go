// Package revocation keeps every instance's in-memory view of what has been
// revoked recently (user cut-offs, ended sessions, denylisted access tokens),
// so checking a token costs no database round trip. It is fed by PostgreSQL
// LISTEN/NOTIFY and reloaded in full whenever that feed may have missed
// something.
package revocation

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Channel is the NOTIFY channel revocations are announced on.
const Channel = "authgate_revocations"

// Kind says what an Event revokes.
type Kind byte

// The kinds of revocation.
const (
	// UserCutOff: every token of the user issued before At is dead.
	UserCutOff Kind = 'u'
	// SessionRevoked: the session (and every token of it) ended at At.
	SessionRevoked Kind = 's'
	// TokenDenied: one access token (jti) is dead; At is its expiry.
	TokenDenied Kind = 'j'
)

// Event is one revocation.
type Event struct {
	Kind Kind
	ID   string
	At   time.Time
}

// Payload is the event's NOTIFY payload: "<kind>|<id>|<unix microseconds>".
func (e Event) Payload() string {
	return string(e.Kind) + "|" + e.ID + "|" + strconv.FormatInt(e.At.UnixMicro(), 10)
}

// ParseEvent reads a NOTIFY payload written by Payload (or by the SQL that
// builds the same format).
func ParseEvent(payload string) (Event, error) {
	parts := strings.Split(payload, "|")
	if len(parts) != 3 || len(parts[0]) != 1 || parts[1] == "" {
		return Event{}, fmt.Errorf("revocation: malformed payload %q", payload)
	}
	k := Kind(parts[0][0])
	if k != UserCutOff && k != SessionRevoked && k != TokenDenied {
		return Event{}, fmt.Errorf("revocation: unknown kind in %q", payload)
	}
	us, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return Event{}, fmt.Errorf("revocation: malformed time in %q", payload)
	}
	return Event{Kind: k, ID: parts[1], At: time.UnixMicro(us).UTC()}, nil
}

// State is the revocation state of one instance. It only remembers what can
// still matter: an access token lives at most Window, so older cut-offs and
// session revocations cannot affect any live token and are forgotten.
// Revocation is add-only, so merging a reload with live events never loses
// one. Safe for concurrent use.
type State struct {
	minWindow time.Duration
	leeway    time.Duration

	// stale is set while the state may lack revocations other instances
	// made: a Feed sets it until its listening connection is up and it has
	// loaded since.
	stale atomic.Bool

	mu       sync.RWMutex
	window   time.Duration
	users    map[string]time.Time // user id → cut-off
	sessions map[string]time.Time // session id → revoked at
	tokens   map[string]time.Time // jti → token expiry
	applied  chan struct{}        // closed and replaced on every change
}

// NewState returns an empty state that remembers revocations for at least
// window (this instance's access-token lifetime plus leeway; SetLongestLifetime
// widens it to other instances' longer lifetimes) and denylisted tokens until
// leeway after their expiry: leeway is the clock skew verification allows.
func NewState(window, leeway time.Duration) *State {
	return &State{
		minWindow: window,
		window:    window,
		leeway:    leeway,
		users:     map[string]time.Time{},
		sessions:  map[string]time.Time{},
		tokens:    map[string]time.Time{},
		applied:   make(chan struct{}),
	}
}

// Current reports whether the state holds every revocation that can
// matter. A state nobody feeds is current (it is the only instance); one a
// Feed keeps is current only while the feed's listening connection is up
// and the feed has loaded since it came up. When it is not, tokens must be
// checked against the database.
func (s *State) Current() bool { return !s.stale.Load() }

// Window is how far back revocations are remembered.
func (s *State) Window() time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.window
}

// SetLongestLifetime sizes the window by the longest access-token lifetime
// that can still be live anywhere (plus leeway), never below the window
// NewState was given. A shorter lifetime than before narrows it again: the
// longer-lived tokens are then all expired.
func (s *State) SetLongestLifetime(lifetime time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.window = max(s.minWindow, lifetime+s.leeway)
}

// Revoked reports whether an access token is dead: issued before its user's
// cut-off, of an ended session, or denylisted. issuedAt has the token's
// whole-second precision; a token issued in the cut-off's own second but
// before it is caught by its session, which every cut-off also ends.
func (s *State) Revoked(userID, sessionID, jti string, issuedAt time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if cut, ok := s.users[userID]; ok && issuedAt.Before(cut.Truncate(time.Second)) {
		return true
	}
	if _, ok := s.sessions[sessionID]; ok && sessionID != "" {
		return true
	}
	if _, ok := s.tokens[jti]; ok && jti != "" {
		return true
	}
	return false
}

// SessionRevoked reports whether a session ended recently.
func (s *State) SessionRevoked(sessionID string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.sessions[sessionID]
	return ok
}

// Apply records events (later cut-offs win).
func (s *State) Apply(events ...Event) {
	if len(events) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		var m map[string]time.Time
		switch e.Kind {
		case UserCutOff:
			m = s.users
		case SessionRevoked:
			m = s.sessions
		case TokenDenied:
			m = s.tokens
		default:
			continue
		}
		if old, ok := m[e.ID]; !ok || e.At.After(old) {
			m[e.ID] = e.At
		}
	}
	close(s.applied)
	s.applied = make(chan struct{})
}

// Changed returns a channel that is closed at the next change.
func (s *State) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// Prune forgets what can no longer affect a live token at now.
func (s *State) Prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	horizon := now.Add(-s.window)
	for id, at := range s.users {
		if at.Before(horizon) {
			delete(s.users, id)
		}
	}
	for id, at := range s.sessions {
		if at.Before(horizon) {
			delete(s.sessions, id)
		}
	}
	for jti, exp := range s.tokens {
		if exp.Add(s.leeway).Before(now) {
			delete(s.tokens, jti)
		}
	}
}

// Size returns how many users, sessions and tokens are remembered.
func (s *State) Size() (users, sessions, tokens int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.users), len(s.sessions), len(s.tokens)
}

// CutOff records that every token of userID issued before at is dead.
func (s *State) CutOff(userID string, at time.Time) {
	s.Apply(Event{Kind: UserCutOff, ID: userID, At: at})
}

// SessionsEnded records that these sessions ended at at.
func (s *State) SessionsEnded(at time.Time, ids ...string) {
	events := make([]Event, 0, len(ids))
	for _, id := range ids {
		if id != "" {
			events = append(events, Event{Kind: SessionRevoked, ID: id, At: at})
		}
	}
	s.Apply(events...)
}

// TokenDenied records that the access token jti is dead until expiresAt.
func (s *State) TokenDenied(jti string, expiresAt time.Time) {
	s.Apply(Event{Kind: TokenDenied, ID: jti, At: expiresAt})
}
