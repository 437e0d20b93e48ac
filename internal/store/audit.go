package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"authgate/internal/auth"
)

// Statements that change something write their audit event in a CTE of
// their own: INSERT INTO auth.audit_events (at, event, user_id, session_id,
// ip, user_agent, detail). The event names are auth's AuditEventKind values.

const insertAuditEvent = `
INSERT INTO auth.audit_events (at, event, user_id, session_id, ip, user_agent, detail, actor)
VALUES ($1, $2, $3::uuid, $4::uuid, $5, $6, $7::jsonb, $8)`

// RecordAudit implements auth.AuditStore.
func (s *Store) RecordAudit(ctx context.Context, e auth.AuditEvent) error {
	detail, err := jsonObject(e.Detail)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, insertAuditEvent, e.At, string(e.Event), nullIfEmpty(e.UserID),
		nullIfEmpty(e.SessionID), nullIfEmpty(e.IP), nullIfEmpty(e.UserAgent), detail, nullIfEmpty(e.Actor))
	return mapError(err)
}

// auditTrail is a user's events (a deleted user's too, by the email it
// had) and the attempts on its email that found no user, oldest first: $1
// the email, $2 since.
const auditTrail = `
SELECT at, event, COALESCE(user_id::text, ''), COALESCE(session_id::text, ''),
       COALESCE(ip, ''), COALESCE(user_agent, ''), detail
FROM (
    SELECT * FROM auth.audit_events
    WHERE user_id IN (SELECT id FROM auth.users WHERE email = $1 UNION ALL SELECT id FROM auth.deleted_users WHERE email = $1)
      AND at >= $2
    UNION ALL
    SELECT * FROM auth.audit_events
    WHERE user_id IS NULL AND detail ->> 'email' = $1 AND at >= $2
) e
ORDER BY at, id`

// AuditTrail implements auth.AuditStore.
func (s *Store) AuditTrail(ctx context.Context, email string, since time.Time) ([]auth.AuditEvent, error) {
	rows, err := s.db.QueryContext(ctx, auditTrail, email, since)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var events []auth.AuditEvent
	for rows.Next() {
		var (
			e      auth.AuditEvent
			event  string
			detail []byte
		)
		if err := rows.Scan(&e.At, &event, &e.UserID, &e.SessionID, &e.IP, &e.UserAgent, &detail); err != nil {
			return nil, mapError(err)
		}
		e.At, e.Event = e.At.UTC(), auth.AuditEventKind(event)
		if err := json.Unmarshal(detail, &e.Detail); err != nil {
			return nil, fmt.Errorf("audit event detail: %w", err)
		}
		events = append(events, e)
	}
	return events, mapError(rows.Err())
}

// purgeAuditEvents deletes a batch of events older than the retention:
// $1 the cut-off, $2 the batch size.
const purgeAuditEvents = `
DELETE FROM auth.audit_events WHERE id IN (
    SELECT id FROM auth.audit_events WHERE at <= $1 LIMIT $2)`

// auditPurgeCutoff is the purge's cut-off for audit events; the zero time
// (nothing) when the policy names no retention.
func auditPurgeCutoff(p auth.PurgePolicy) time.Time {
	if p.AuditRetention <= 0 {
		return time.Time{}
	}
	return p.Now.Add(-p.AuditRetention)
}

// requestClient is where the request being served came from, for the audit
// events of statements whose callers pass no client (logout, revocations):
// the address and the user agent (made storable by auth.WithClient), each
// nil when unknown.
func requestClient(ctx context.Context) (ip, userAgent any) {
	c := auth.ClientFrom(ctx)
	return nullIfEmpty(c.IP), nullIfEmpty(c.UserAgent)
}

// requestActor is the administrator the request acts for (auth.WithActor),
// nil when none.
func requestActor(ctx context.Context) any { return nullIfEmpty(auth.ActorFrom(ctx)) }

// jsonObject encodes an audit event's detail (nil: {}), as a string:
// lib/pq would send bytes as bytea.
func jsonObject(detail map[string]any) (string, error) {
	if detail == nil {
		return "{}", nil
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return "", fmt.Errorf("audit event detail: %w", err)
	}
	return string(b), nil
}
