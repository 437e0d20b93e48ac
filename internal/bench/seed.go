package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/lib/pq"

	"authgate/internal/refreshtoken"
)

// seedPlan is what one database gets. Sessions are numbered k = 1…sessions
// and belong to user ((k-1) mod users) + 1. The first clients×perClient are
// the HTTP clients' (real tokens, kept in memory), the next as many are
// pgbench's (see pgbenchSessionSQL), the rest are filler nobody holds a token
// for.
type seedPlan struct {
	users, sessions, clients, perClient int
	// denylisted revoked access tokens, spread over the users.
	denylisted int
}

func (p seedPlan) hot() int { return p.clients * p.perClient }

// SeedInfo describes what was seeded and how long it took.
type SeedInfo struct {
	Users               int     `json:"users"`
	Sessions            int     `json:"sessions"`
	ClientSessions      int     `json:"client_sessions"`
	PgbenchSessions     int     `json:"pgbench_sessions"`
	DenylistedTokens    int     `json:"denylisted_tokens"`
	SessionsPerClient   int     `json:"sessions_per_client"`
	PasswordHashSeconds float64 `json:"password_hash_seconds"`
	Seconds             float64 `json:"seconds"`
}

// seedUsers inserts users 1…n, all with the same password hash (computed
// once: a benchmark does not need n different salts). A user's id is derived
// from its number, so sessions can name it without reading it back.
const seedUsers = `
INSERT INTO auth.users (id, email, password_hash, default_role, allowed_roles, created_at, updated_at)
SELECT md5('bench-user-' || g)::uuid, 'user' || g || '@bench.test', $1, 'user', '{user}', $2, $2
FROM generate_series(1, $3) AS g`

// seedClientSessions inserts the HTTP clients' sessions from arrays of
// numbers, session ids and token secrets.
const seedClientSessions = `
INSERT INTO auth.sessions (id, user_id, token_secret, description, user_agent, ip,
                           created_at, last_activity_at, expires_at, max_expires_at)
SELECT id, md5('bench-user-' || ((k - 1) % $1 + 1))::uuid, secret, 'seeded', 'authgate-bench', '127.0.0.1',
       $5, $5, $6, $7
FROM unnest($2::int[], $3::uuid[], $4::bytea[]) AS t(k, id, secret)`

// pgbenchSessionDescription marks the sessions pgbench rotates.
const pgbenchSessionDescription = "pgbench"

// pgbenchSessionSQL is the id of pgbench client c's session s (SQL
// expressions), so that its script can find its own.
func pgbenchSessionSQL(c, s string) string {
	return "md5('bench-pgbench-' || (" + c + ") || '-' || (" + s + "))::uuid"
}

// seedOtherSessions inserts sessions $2+1 … $7: pgbench's (up to $3, $8
// per client), then filler; their secrets are a hash of their number.
var seedOtherSessions = `
INSERT INTO auth.sessions (id, user_id, token_secret, description, user_agent, ip,
                           created_at, last_activity_at, expires_at, max_expires_at)
SELECT CASE WHEN k <= $3 THEN ` + pgbenchSessionSQL("(k - $2 - 1) / $8", "(k - $2 - 1) % $8") + ` ELSE gen_random_uuid() END,
       md5('bench-user-' || ((k - 1) % $1 + 1))::uuid, sha256(int8send(k)),
       CASE WHEN k <= $3 THEN '` + pgbenchSessionDescription + `' ELSE 'seeded' END,
       'authgate-bench', '127.0.0.1', $4, $4, $5, $6
FROM generate_series($2 + 1, $7) AS k`

// seedDenylist revokes $4 access tokens that nobody holds, issued just now
// ($2) and alive for the access-token lifetime ($3), as a busy service's
// denylist would be.
const seedDenylist = `
INSERT INTO auth.revoked_access_tokens (jti, user_id, expires_at, revoked_at)
SELECT 'bench-revoked-' || g, md5('bench-user-' || ((g - 1) % $1 + 1))::uuid, $3, $2
FROM generate_series(1, $4) AS g`

// seed fills a migrated database per plan and returns the HTTP clients'
// first refresh tokens, in session order, made with the server's keys.
func seed(ctx context.Context, db *sql.DB, p seedPlan, passwordHash string, keys *refreshtoken.Keys, refreshTTL, maxAge, accessTTL time.Duration) ([]string, SeedInfo, error) {
	start := time.Now()
	info := SeedInfo{Users: p.users, Sessions: p.sessions, ClientSessions: p.hot(), PgbenchSessions: p.hot(),
		SessionsPerClient: p.perClient, DenylistedTokens: p.denylisted}
	now := time.Now().UTC()
	created := now.Add(-time.Hour)
	maxExpires := created.Add(maxAge)
	expires := now.Add(refreshTTL)
	if expires.After(maxExpires) {
		expires = maxExpires
	}
	if _, err := db.ExecContext(ctx, seedUsers, passwordHash, created, p.users); err != nil {
		return nil, info, fmt.Errorf("seeding users: %w", err)
	}

	tokens := make([]string, p.hot())
	nums := make([]int64, p.hot())
	ids := make([]string, p.hot())
	secrets := make([][]byte, p.hot())
	for i := range tokens {
		id, err := newUUID()
		if err != nil {
			return nil, info, err
		}
		secret, err := refreshtoken.NewSecret(rand.Reader)
		if err != nil {
			return nil, info, err
		}
		if tokens[i], err = keys.Mint(id, 0, refreshtoken.Proof(secret, 0)); err != nil {
			return nil, info, err
		}
		nums[i], ids[i], secrets[i] = int64(i+1), id, secret
	}
	if _, err := db.ExecContext(ctx, seedClientSessions, p.users, pq.Array(nums), pq.Array(ids), pq.ByteaArray(secrets),
		created, expires, maxExpires); err != nil {
		return nil, info, fmt.Errorf("seeding the clients' sessions: %w", err)
	}
	if _, err := db.ExecContext(ctx, seedOtherSessions, p.users, p.hot(), 2*p.hot(),
		created, expires, maxExpires, p.sessions, p.perClient); err != nil {
		return nil, info, fmt.Errorf("seeding sessions: %w", err)
	}
	if _, err := db.ExecContext(ctx, seedDenylist, p.users, now, now.Add(accessTTL), p.denylisted); err != nil {
		return nil, info, fmt.Errorf("seeding the denylist: %w", err)
	}
	// Fresh statistics and visibility map, as a database in service has.
	if _, err := db.ExecContext(ctx, `VACUUM ANALYZE auth.users, auth.sessions, auth.retired_refresh_tokens, auth.revoked_access_tokens`); err != nil {
		return nil, info, fmt.Errorf("vacuuming: %w", err)
	}
	info.Seconds = time.Since(start).Seconds()
	return tokens, info, nil
}

// newUUID returns a random (version 4) UUID in its text form.
func newUUID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// seedPlainTable creates bench_plain, the table of the cheapest write: rows
// rows with a unique token_hash, the first clients×perClient holding chain
// values for pgbench's clients, the rest random 32-byte values.
func seedPlainTable(ctx context.Context, db *sql.DB, rows, clients, perClient int) error {
	stmts := []string{
		`DROP TABLE IF EXISTS public.bench_plain`,
		`CREATE TABLE public.bench_plain (token_hash bytea NOT NULL, n bigint NOT NULL DEFAULT 0)`,
		`INSERT INTO public.bench_plain (token_hash)
		 SELECT CASE WHEN r < $1 THEN ` + chainSeedSQL("r / $2", "r % $2") + ` ELSE sha256(int8send(r)) END
		 FROM generate_series(0, $3 - 1) AS r`,
		`CREATE UNIQUE INDEX bench_plain_token_hash_key ON public.bench_plain (token_hash)`,
		`VACUUM ANALYZE public.bench_plain`,
	}
	for i, q := range stmts {
		var err error
		if i == 2 {
			_, err = db.ExecContext(ctx, q, clients*perClient, perClient, rows)
		} else {
			_, err = db.ExecContext(ctx, q)
		}
		if err != nil {
			return fmt.Errorf("creating bench_plain: %w", err)
		}
	}
	return nil
}

// resetChains puts every pgbench-owned session back at generation 0, so the
// next rotate run starts where the seed did.
func resetChains(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `UPDATE auth.sessions SET generation = 0, rotated_at = NULL, rotated_client = NULL, replays = 0
		WHERE description = '`+pgbenchSessionDescription+`' AND generation <> 0`)
	if err != nil {
		return fmt.Errorf("resetting pgbench's sessions: %w", err)
	}
	return nil
}
