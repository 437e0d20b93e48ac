package bench

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/lib/pq"
)

// Integrity is the end-of-run check that no session was lost or forked.
type Integrity struct {
	ClientSessions int `json:"client_sessions"`
	// CurrentInDB counts client sessions whose current token in the
	// database is the client's latest; AheadInDB those already rotated past
	// it (an answer lost in flight: a retry within the grace window heals
	// it).
	CurrentInDB int `json:"current_in_db"`
	AheadInDB   int `json:"ahead_in_db"`
	// RevokedSessions are sessions revoked during the run: reuse detection
	// firing on a client that only ever used its latest token would be a
	// fork.
	RevokedSessions    int64          `json:"revoked_sessions"`
	FinalRefreshOK     int            `json:"final_refresh_ok"`
	FinalRefreshErrors map[string]int `json:"final_refresh_errors,omitempty"`
	SeededSessions     int64          `json:"seeded_sessions"`
	Logins             int64          `json:"logins"`
	LoginsUnknown      int64          `json:"logins_with_lost_answer"`
	LiveSessions       int64          `json:"live_sessions"`
	OK                 bool           `json:"ok"`
	Problems           []string       `json:"problems,omitempty"`
}

// checkIntegrity checks that every client's latest refresh token is its
// session's current one (the session is at that token's generation), that it
// refreshes successfully once more (to its successor), that no session was
// revoked, and that the live sessions are the seeded ones plus one per login.
func checkIntegrity(ctx context.Context, db *sql.DB, t *target, workers []*worker, seeded int64, timeout time.Duration) Integrity {
	in := Integrity{SeededSessions: seeded, FinalRefreshErrors: map[string]int{}}
	// The workers may talk to several servers (scale-out): count every
	// server's logins once.
	seen := map[*target]bool{t: true}
	in.Logins, in.LoginsUnknown = t.logins.Load(), t.loginsUnknown.Load()
	for _, w := range workers {
		if !seen[w.t] {
			seen[w.t] = true
			in.Logins += w.t.logins.Load()
			in.LoginsUnknown += w.t.loginsUnknown.Load()
		}
	}
	var (
		ids         []string
		generations []int64
	)
	for _, w := range workers {
		for _, s := range w.sessions {
			tok, _ := t.keys.Parse(s.token)
			ids, generations = append(ids, tok.SessionID), append(generations, tok.Generation)
		}
	}
	in.ClientSessions = len(ids)
	count := func(q string, args ...any) int64 {
		var n int64
		if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			in.Problems = append(in.Problems, "query failed: "+err.Error())
		}
		return n
	}
	// $3 = 0: the session is at the client's latest token; 1: one further.
	const atGeneration = `SELECT count(*) FROM auth.sessions s JOIN unnest($1::uuid[], $2::bigint[]) AS t(id, g) ON s.id = t.id
		WHERE s.revoked_at IS NULL AND s.generation = t.g + $3`
	in.CurrentInDB = int(count(atGeneration, pq.Array(ids), pq.Array(generations), 0))
	in.AheadInDB = int(count(atGeneration, pq.Array(ids), pq.Array(generations), 1))
	in.RevokedSessions = count(`SELECT count(*) FROM auth.sessions WHERE revoked_at IS NOT NULL`)

	// Every client's latest token refreshes once more, clients in parallel.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			buf := make([]byte, 0, 512)
			for _, s := range w.sessions {
				reqCtx, cancel := context.WithTimeout(ctx, timeout)
				tk, code := w.refreshToken(reqCtx, s.token, true, buf)
				cancel()
				mu.Lock()
				if code == "" {
					in.FinalRefreshOK++
					s.token = tk.RefreshToken
				} else {
					in.FinalRefreshErrors[code]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	in.LiveSessions, _ = liveSessions(ctx, db, time.Now())
	expected := in.SeededSessions + in.Logins
	switch {
	case in.CurrentInDB+in.AheadInDB != in.ClientSessions:
		in.Problems = append(in.Problems, fmt.Sprintf("%d of %d client sessions no longer hold the client's latest token (lost or forked)",
			in.ClientSessions-in.CurrentInDB-in.AheadInDB, in.ClientSessions))
	case in.AheadInDB > 0:
		in.Problems = append(in.Problems, fmt.Sprintf("%d client sessions were rotated past the client's latest token (answers lost in flight)", in.AheadInDB))
	}
	if in.RevokedSessions != 0 {
		in.Problems = append(in.Problems, fmt.Sprintf("%d sessions were revoked during the run", in.RevokedSessions))
	}
	if in.FinalRefreshOK != in.ClientSessions {
		in.Problems = append(in.Problems, fmt.Sprintf("%d of %d latest tokens did not refresh once more: %v",
			in.ClientSessions-in.FinalRefreshOK, in.ClientSessions, in.FinalRefreshErrors))
	}
	if in.LiveSessions < expected || in.LiveSessions > expected+in.LoginsUnknown {
		in.Problems = append(in.Problems, fmt.Sprintf("%d live sessions, expected %d seeded + %d logins = %d",
			in.LiveSessions, in.SeededSessions, in.Logins, expected))
	}
	in.OK = len(in.Problems) == 0
	return in
}
