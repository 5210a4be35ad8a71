package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"denwa/enroll"
)

const enrollmentColumns = `id, user_id, phone, country, client_ip, state, version, attempts, outcome, cause,
	key_source, node, created_at, updated_at, expires_at, verified_at, completed_at`

func scanEnrollment(sc interface{ Scan(...any) error }) (enroll.Enrollment, error) {
	var e enroll.Enrollment
	var state, outcome string
	var created, updated, expires, verified, completed int64
	err := sc.Scan(&e.ID, &e.UserID, &e.Phone, &e.Country, &e.ClientIP, &state, &e.Version, &e.Attempts,
		&outcome, &e.Cause, &e.KeySource, &e.Node, &created, &updated, &expires, &verified, &completed)
	if err != nil {
		return e, err
	}
	if e.State, err = enroll.ParseState(state); err != nil {
		return e, err
	}
	if e.Outcome, err = enroll.ParseOutcome(outcome); err != nil {
		return e, err
	}
	e.CreatedAt, e.UpdatedAt, e.ExpiresAt = tm(created), tm(updated), tm(expires)
	e.VerifiedAt, e.CompletedAt = tm(verified), tm(completed)
	return e, nil
}

// enrollmentArgs are e's values in enrollmentColumns order.
func enrollmentArgs(e *enroll.Enrollment) []any {
	return []any{e.ID, e.UserID, e.Phone, e.Country, e.ClientIP, e.State.String(), e.Version, e.Attempts,
		e.Outcome.String(), e.Cause, e.KeySource, e.Node, ts(e.CreatedAt), ts(e.UpdatedAt), ts(e.ExpiresAt),
		ts(e.VerifiedAt), ts(e.CompletedAt)}
}

func checkEnrollment(e *enroll.Enrollment) error {
	if e.ID == "" || !e.State.Valid() || e.State == enroll.StateUnknown || !e.Outcome.Valid() {
		return fmt.Errorf("invalid enrollment (id %q, state %v, outcome %v)", e.ID, e.State, e.Outcome)
	}
	return nil
}

// CreateEnrollment implements enroll.Store.
func (s *Store) CreateEnrollment(ctx context.Context, e enroll.Enrollment, audit []enroll.AuditEvent) error {
	if err := checkEnrollment(&e); err != nil {
		return fmt.Errorf("sqlite: create enrollment: %w", err)
	}
	if e.Version != 1 {
		return fmt.Errorf("sqlite: create enrollment %s: version %d, want 1", e.ID, e.Version)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO enrollments (`+enrollmentColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, enrollmentArgs(&e)...)
		if err != nil {
			return err
		}
		return appendAudit(ctx, tx, audit)
	})
	return mapErr(err, "create enrollment "+e.ID)
}

// GetEnrollment implements enroll.Store.
func (s *Store) GetEnrollment(ctx context.Context, id string) (enroll.Enrollment, error) {
	e, err := scanEnrollment(s.r.QueryRowContext(ctx, `SELECT `+enrollmentColumns+` FROM enrollments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("sqlite: enrollment %s: %w", id, enroll.ErrNotFound)
	}
	return e, mapErr(err, "get enrollment "+id)
}

// UpdateEnrollment implements enroll.Store.
func (s *Store) UpdateEnrollment(ctx context.Context, e enroll.Enrollment, audit []enroll.AuditEvent, outbox []enroll.OutboxMessage) error {
	if err := checkEnrollment(&e); err != nil {
		return fmt.Errorf("sqlite: update enrollment: %w", err)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := updateEnrollment(ctx, tx, &e); err != nil {
			return err
		}
		if err := appendAudit(ctx, tx, audit); err != nil {
			return err
		}
		for _, m := range outbox {
			if _, err := enqueue(ctx, tx, &m); err != nil {
				return err
			}
		}
		return nil
	})
	return mapErr(err, "update enrollment "+e.ID)
}

// updateEnrollment is the compare-and-set on version.
func updateEnrollment(ctx context.Context, tx *sql.Tx, e *enroll.Enrollment) error {
	args := enrollmentArgs(e)
	res, err := tx.ExecContext(ctx, `UPDATE enrollments SET
		user_id = ?2, phone = ?3, country = ?4, client_ip = ?5, state = ?6, version = ?7, attempts = ?8,
		outcome = ?9, cause = ?10, key_source = ?11, node = ?12, created_at = ?13, updated_at = ?14,
		expires_at = ?15, verified_at = ?16, completed_at = ?17
		WHERE id = ?1 AND version = ?18`, append(args, e.Version-1)...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	var v int64
	err = tx.QueryRowContext(ctx, `SELECT version FROM enrollments WHERE id = ?`, e.ID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return enroll.ErrNotFound
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: stored version %d, expected %d", enroll.ErrConflict, v, e.Version-1)
}

// RecoverCalling implements enroll.Store.
func (s *Store) RecoverCalling(ctx context.Context, node string, now time.Time) ([]enroll.Enrollment, error) {
	var out []enroll.Enrollment
	err := s.tx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		found, err := queryEnrollments(ctx, tx, `WHERE state = ? AND (node = ? OR ? = '') ORDER BY created_at, id`,
			enroll.StateCalling.String(), node, node)
		if err != nil {
			return err
		}
		for _, e := range found {
			next, ev, m := enroll.RecoveredCall(e, now)
			if err := updateEnrollment(ctx, tx, &next); err != nil {
				return err
			}
			if err := appendAudit(ctx, tx, []enroll.AuditEvent{ev}); err != nil {
				return err
			}
			if _, err := enqueue(ctx, tx, &m); err != nil {
				return err
			}
			out = append(out, next)
		}
		return nil
	})
	if err != nil {
		return nil, mapErr(err, "recover calling")
	}
	return out, nil
}

// CallingEnrollments implements enroll.Store.
func (s *Store) CallingEnrollments(ctx context.Context, node string) ([]enroll.Enrollment, error) {
	es, err := queryEnrollments(ctx, s.r, `WHERE state = ? AND node = ? ORDER BY created_at, id`,
		enroll.StateCalling.String(), node)
	return es, mapErr(err, "calling enrollments")
}

// queryEnrollments returns the enrollments that the rest of a SELECT,
// where (WHERE …, ORDER BY …), picks; the rows are closed when it returns.
func queryEnrollments(ctx context.Context, db execer, where string, args ...any) ([]enroll.Enrollment, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+enrollmentColumns+` FROM enrollments `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []enroll.Enrollment
	for rows.Next() {
		e, err := scanEnrollment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func appendAudit(ctx context.Context, db execer, events []enroll.AuditEvent) error {
	for _, ev := range events {
		if ev.ID == "" || ev.EnrollmentID == "" {
			return fmt.Errorf("audit event without ID or enrollment ID")
		}
		_, err := db.ExecContext(ctx, `INSERT INTO audit_events (id, enrollment_id, at, actor, action,
			from_state, to_state, outcome, cause, key_source, keys, request_id, attempt)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ev.ID, ev.EnrollmentID, ts(ev.At), string(ev.Actor), ev.Action, ev.From.String(), ev.To.String(),
			ev.Outcome.String(), ev.Cause, ev.KeySource, ev.Keys, ev.RequestID, ev.Attempt)
		if err != nil {
			return err
		}
	}
	return nil
}

// AppendAudit implements enroll.Store.
func (s *Store) AppendAudit(ctx context.Context, events ...enroll.AuditEvent) error {
	err := s.tx(ctx, func(tx *sql.Tx) error { return appendAudit(ctx, tx, events) })
	return mapErr(err, "append audit")
}

// ListAudit implements enroll.Store.
func (s *Store) ListAudit(ctx context.Context, enrollmentID string) ([]enroll.AuditEvent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, enrollment_id, at, actor, action, from_state, to_state,
		outcome, cause, key_source, keys, request_id, attempt
		FROM audit_events WHERE enrollment_id = ? ORDER BY seq`, enrollmentID)
	if err != nil {
		return nil, mapErr(err, "list audit")
	}
	defer rows.Close()
	var out []enroll.AuditEvent
	for rows.Next() {
		var ev enroll.AuditEvent
		var at int64
		var actor, from, to, outcome string
		if err := rows.Scan(&ev.ID, &ev.EnrollmentID, &at, &actor, &ev.Action, &from, &to, &outcome,
			&ev.Cause, &ev.KeySource, &ev.Keys, &ev.RequestID, &ev.Attempt); err != nil {
			return nil, mapErr(err, "list audit")
		}
		ev.At, ev.Actor = tm(at), enroll.Actor(actor)
		if ev.From, err = enroll.ParseState(from); err != nil {
			return nil, mapErr(err, "list audit")
		}
		if ev.To, err = enroll.ParseState(to); err != nil {
			return nil, mapErr(err, "list audit")
		}
		if ev.Outcome, err = enroll.ParseOutcome(outcome); err != nil {
			return nil, mapErr(err, "list audit")
		}
		out = append(out, ev)
	}
	return out, mapErr(rows.Err(), "list audit")
}

// CreateAppPassword implements enroll.Store.
func (s *Store) CreateAppPassword(ctx context.Context, p enroll.AppPassword, max int) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM app_passwords WHERE user_id = ? AND revoked_at = 0`,
			p.UserID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return fmt.Errorf("%w: user has %d app passwords, at most %d", enroll.ErrLimit, n, max)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO app_passwords (id, user_id, name, hash, created_at, last_used_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, p.ID, p.UserID, p.Name, p.Hash, ts(p.CreatedAt), ts(p.LastUsedAt), ts(p.RevokedAt))
		return err
	})
	return mapErr(err, "create app password")
}

// ListAppPasswords implements enroll.Store.
func (s *Store) ListAppPasswords(ctx context.Context, userID string) ([]enroll.AppPassword, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, user_id, name, hash, created_at, last_used_at, revoked_at
		FROM app_passwords WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, mapErr(err, "list app passwords")
	}
	defer rows.Close()
	var out []enroll.AppPassword
	for rows.Next() {
		var p enroll.AppPassword
		var c, u, r int64
		if err := rows.Scan(&p.ID, &p.UserID, &p.Name, &p.Hash, &c, &u, &r); err != nil {
			return nil, mapErr(err, "list app passwords")
		}
		p.CreatedAt, p.LastUsedAt, p.RevokedAt = tm(c), tm(u), tm(r)
		out = append(out, p)
	}
	return out, mapErr(rows.Err(), "list app passwords")
}

// CountAppPasswords implements enroll.Store.
func (s *Store) CountAppPasswords(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM app_passwords WHERE user_id = ? AND revoked_at = 0`, userID).Scan(&n)
	return n, mapErr(err, "count app passwords")
}

// RevokeAppPassword implements enroll.Store.
func (s *Store) RevokeAppPassword(ctx context.Context, userID, id string, at time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE app_passwords
			SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END
			WHERE id = ? AND user_id = ?`, ts(at), id, userID))
	})
	return mapErr(err, "revoke app password "+id)
}

// TouchAppPassword implements enroll.Store.
func (s *Store) TouchAppPassword(ctx context.Context, id string, at time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE app_passwords SET last_used_at = ? WHERE id = ?`, ts(at), id))
	})
	return mapErr(err, "touch app password "+id)
}

// CreateAPIKey implements enroll.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k enroll.APIKey) error {
	if k.Scopes == 0 || k.Scopes&^enroll.AllScopes != 0 {
		return fmt.Errorf("sqlite: create API key %s: %w: scopes %#x", k.Name, enroll.ErrInvalidInput, uint8(k.Scopes))
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (name, hash, scopes, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)`,
			k.Name, k.Hash, k.Scopes.String(), ts(k.CreatedAt), ts(k.RevokedAt))
		return err
	})
	return mapErr(err, "create API key "+k.Name)
}

func scanAPIKey(sc interface{ Scan(...any) error }) (enroll.APIKey, error) {
	var k enroll.APIKey
	var c, r int64
	var scopes string
	if err := sc.Scan(&k.Name, &k.Hash, &scopes, &c, &r); err != nil {
		return k, err
	}
	k.CreatedAt, k.RevokedAt = tm(c), tm(r)
	var err error
	k.Scopes, err = enroll.ParseScopes(scopes)
	return k, err
}

const apiKeyColumns = `name, hash, scopes, created_at, revoked_at`

// APIKeyByHash implements enroll.Store.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (enroll.APIKey, error) {
	k, err := scanAPIKey(s.r.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return k, fmt.Errorf("sqlite: API key: %w", enroll.ErrNotFound)
	}
	return k, mapErr(err, "API key")
}

// ListAPIKeys implements enroll.Store.
func (s *Store) ListAPIKeys(ctx context.Context) ([]enroll.APIKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY name`)
	if err != nil {
		return nil, mapErr(err, "list API keys")
	}
	defer rows.Close()
	var out []enroll.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, mapErr(err, "list API keys")
		}
		out = append(out, k)
	}
	return out, mapErr(rows.Err(), "list API keys")
}

// RevokeAPIKey implements enroll.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, name string, at time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE api_keys
			SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE name = ?`, ts(at), name))
	})
	return mapErr(err, "revoke API key "+name)
}

// BlockNumber implements enroll.Store.
func (s *Store) BlockNumber(ctx context.Context, b enroll.BlockedNumber) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO blocked_numbers (phone, reason, enrollment_id, blocked_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (phone) DO NOTHING`, b.Phone, b.Reason, b.EnrollmentID, ts(b.At))
		return err
	})
	return mapErr(err, "block number")
}

// BlockedNumber implements enroll.Store.
func (s *Store) BlockedNumber(ctx context.Context, phone string) (enroll.BlockedNumber, error) {
	var b enroll.BlockedNumber
	var at int64
	err := s.r.QueryRowContext(ctx, `SELECT phone, reason, enrollment_id, blocked_at FROM blocked_numbers WHERE phone = ?`,
		phone).Scan(&b.Phone, &b.Reason, &b.EnrollmentID, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return b, fmt.Errorf("sqlite: blocked number: %w", enroll.ErrNotFound)
	}
	b.At = tm(at)
	return b, mapErr(err, "blocked number")
}

// UnblockNumber implements enroll.Store.
func (s *Store) UnblockNumber(ctx context.Context, phone string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM blocked_numbers WHERE phone = ?`, phone))
	})
	return mapErr(err, "unblock number")
}

// AddCounter implements enroll.Store.
func (s *Store) AddCounter(ctx context.Context, bucket string, window time.Time, delta int64) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return addCounter(ctx, tx, bucket, window, delta).Scan(&n)
	})
	return n, mapErr(err, "add counter")
}

// AddCounters implements enroll.Store. The writer's transactions begin
// IMMEDIATE, so each runs alone and its reads see every earlier change.
func (s *Store) AddCounters(ctx context.Context, changes []enroll.CounterChange) ([]int64, bool, error) {
	var counts []int64
	refused := errors.New("refused")
	err := s.tx(ctx, func(tx *sql.Tx) error {
		counts = counts[:0]
		for _, c := range changes {
			var n int64
			if err := addCounter(ctx, tx, c.Bucket, c.Window, c.Delta).Scan(&n); err != nil {
				return err
			}
			counts = append(counts, n)
			if c.Max > 0 && n > c.Max {
				return refused
			}
		}
		return nil
	})
	if errors.Is(err, refused) {
		return counts, false, nil
	}
	if err != nil {
		return nil, false, mapErr(err, "add counters")
	}
	return counts, true, nil
}

func addCounter(ctx context.Context, db execer, bucket string, window time.Time, delta int64) *sql.Row {
	return db.QueryRowContext(ctx, `INSERT INTO rate_counters (bucket, window_start, count) VALUES (?, ?, ?)
		ON CONFLICT (bucket, window_start) DO UPDATE SET count = count + excluded.count
		RETURNING count`, bucket, ts(window), delta)
}

// PruneCounters implements enroll.Store.
func (s *Store) PruneCounters(ctx context.Context, before time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM rate_counters WHERE window_start < ?`, ts(before))
		return err
	})
	return mapErr(err, "prune counters")
}

func enqueue(ctx context.Context, db execer, m *enroll.OutboxMessage) (int64, error) {
	payload := m.Payload
	if payload == nil {
		payload = []byte{}
	}
	res, err := db.ExecContext(ctx, `INSERT INTO outbox (event, enrollment_id, payload, created_at, attempts,
		next_attempt_at, delivered_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.Event, m.EnrollmentID, payload, ts(m.CreatedAt), m.Attempts, ts(m.NextAttemptAt), ts(m.DeliveredAt), m.LastError)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// EnqueueOutbox implements enroll.Store.
func (s *Store) EnqueueOutbox(ctx context.Context, m enroll.OutboxMessage) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = enqueue(ctx, tx, &m)
		return err
	})
	return id, mapErr(err, "enqueue outbox")
}

// outboxColumns are the columns scanOutbox reads, in its order.
const outboxColumns = `id, event, enrollment_id, payload, created_at, attempts,
	next_attempt_at, delivered_at, dead_at, last_error`

// scanOutbox reads the messages of rows (selected as outboxColumns) and
// closes it.
func scanOutbox(rows *sql.Rows) ([]enroll.OutboxMessage, error) {
	defer rows.Close()
	var out []enroll.OutboxMessage
	for rows.Next() {
		var m enroll.OutboxMessage
		var c, n, d, dead int64
		if err := rows.Scan(&m.ID, &m.Event, &m.EnrollmentID, &m.Payload, &c, &m.Attempts, &n, &d, &dead, &m.LastError); err != nil {
			return nil, err
		}
		m.CreatedAt, m.NextAttemptAt, m.DeliveredAt, m.DeadAt = tm(c), tm(n), tm(d), tm(dead)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// ClaimOutbox implements enroll.Store.
func (s *Store) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]enroll.OutboxMessage, error) {
	var out []enroll.OutboxMessage
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox
			WHERE delivered_at = 0 AND dead_at = 0 AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, ts(now), limit)
		if err != nil {
			return err
		}
		if out, err = scanOutbox(rows); err != nil {
			return err
		}
		next := ts(now.Add(lease))
		for i := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = ? WHERE id = ?`, next, out[i].ID); err != nil {
				return err
			}
			out[i].NextAttemptAt = tm(next)
		}
		return nil
	})
	if err != nil {
		return nil, mapErr(err, "claim outbox")
	}
	return out, nil
}

// MarkOutboxDelivered implements enroll.Store.
func (s *Store) MarkOutboxDelivered(ctx context.Context, id int64, at time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE outbox SET delivered_at = ? WHERE id = ?`, ts(at), id))
	})
	return mapErr(err, fmt.Sprintf("outbox %d delivered", id))
}

// MarkOutboxFailed implements enroll.Store.
func (s *Store) MarkOutboxFailed(ctx context.Context, id int64, next time.Time, lastError string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?,
			last_error = ? WHERE id = ?`, ts(next), lastError, id))
	})
	return mapErr(err, fmt.Sprintf("outbox %d failed", id))
}

// MarkOutboxDead implements enroll.Store.
func (s *Store) MarkOutboxDead(ctx context.Context, id int64, at time.Time, lastError string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = 0,
			dead_at = ?, last_error = ? WHERE id = ?`, max(ts(at), 1), lastError, id))
	})
	return mapErr(err, fmt.Sprintf("outbox %d dead", id))
}

// RedeliverOutbox implements enroll.Store.
func (s *Store) RedeliverOutbox(ctx context.Context, id int64, now time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var delivered, dead int64
		err := tx.QueryRowContext(ctx, `SELECT delivered_at, dead_at FROM outbox WHERE id = ?`, id).Scan(&delivered, &dead)
		if errors.Is(err, sql.ErrNoRows) {
			return enroll.ErrNotFound
		}
		if err != nil {
			return err
		}
		if st := (enroll.OutboxMessage{DeliveredAt: tm(delivered), DeadAt: tm(dead)}).State(); st != enroll.OutboxDead {
			return fmt.Errorf("%w: it is %s", enroll.ErrOutboxNotDead, st)
		}
		_, err = tx.ExecContext(ctx, `UPDATE outbox SET attempts = 0, dead_at = 0, next_attempt_at = ? WHERE id = ?`, ts(now), id)
		return err
	})
	return mapErr(err, fmt.Sprintf("outbox %d redeliver", id))
}

// ListOutbox implements enroll.Store.
func (s *Store) ListOutbox(ctx context.Context, state enroll.OutboxState, limit int) ([]enroll.OutboxMessage, error) {
	var where string
	switch state {
	case enroll.OutboxAny:
		where = "1"
	case enroll.OutboxPending:
		where = "delivered_at = 0 AND dead_at = 0"
	case enroll.OutboxDead:
		where = "delivered_at = 0 AND dead_at <> 0"
	case enroll.OutboxDelivered:
		where = "delivered_at <> 0"
	default:
		return nil, fmt.Errorf("sqlite: list outbox: %w: state %v", enroll.ErrInvalidInput, state)
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE `+where+` ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, mapErr(err, "list outbox")
	}
	out, err := scanOutbox(rows)
	return out, mapErr(err, "list outbox")
}

// CountOutbox implements enroll.Store. Both counts read a partial index
// that holds only the undelivered messages.
func (s *Store) CountOutbox(ctx context.Context) (pending, dead int64, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM outbox WHERE delivered_at = 0 AND dead_at = 0),
		(SELECT COUNT(*) FROM outbox WHERE delivered_at = 0 AND dead_at <> 0)`).Scan(&pending, &dead)
	if err != nil {
		return 0, 0, mapErr(err, "count outbox")
	}
	return pending, dead, nil
}

// UseToken implements enroll.Store.
func (s *Store) UseToken(ctx context.Context, tokenID string, expires, at time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO used_tokens (token_id, used_at, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (token_id) DO NOTHING`, tokenID, ts(at), ts(expires))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return enroll.ErrTokenUsed
		}
		return nil
	})
	return mapErr(err, "use token")
}

// TokenUsed implements enroll.Store.
func (s *Store) TokenUsed(ctx context.Context, tokenID string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM used_tokens WHERE token_id = ?`, tokenID).Scan(&n)
	if err != nil {
		return false, mapErr(err, "token used")
	}
	return n > 0, nil
}

// PruneTokens implements enroll.Store.
func (s *Store) PruneTokens(ctx context.Context, before time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM used_tokens WHERE expires_at < ?`, ts(before))
		return err
	})
	return mapErr(err, "prune tokens")
}

// RenewNodeLease implements enroll.Store.
func (s *Store) RenewNodeLease(ctx context.Context, node string, until time.Time) error {
	if node == "" {
		return fmt.Errorf("sqlite: renew node lease: %w: empty node name", enroll.ErrInvalidInput)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO nodes (name, lease_until) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET lease_until = excluded.lease_until`, node, ts(until))
		return err
	})
	return mapErr(err, "renew node lease "+node)
}

// LostNodes implements enroll.Store.
func (s *Store) LostNodes(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM nodes WHERE lease_until <= ?
		AND EXISTS (SELECT 1 FROM enrollments WHERE state = ? AND node = nodes.name)
		ORDER BY name`, ts(now), enroll.StateCalling.String())
	if err != nil {
		return nil, mapErr(err, "lost nodes")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, mapErr(err, "lost nodes")
		}
		out = append(out, name)
	}
	return out, mapErr(rows.Err(), "lost nodes")
}

// Ping implements enroll.Store: a query on a read connection.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return mapErr(s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one), "ping")
}
