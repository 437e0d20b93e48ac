package store

import (
	"context"
	"time"
)

const countLiveSessions = `
SELECT count(*) FROM auth.sessions
WHERE revoked_at IS NULL AND expires_at > $1 AND max_expires_at > $1`

// CountLiveSessions counts sessions neither revoked nor expired at now.
func (s *Store) CountLiveSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, countLiveSessions, now).Scan(&n)
	return n, mapError(err)
}
