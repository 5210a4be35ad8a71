package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"denwa/enroll"
	"denwa/enroll/store/internal/storesql"
)

// ts and tm convert times to and from the stored microseconds.
var ts, tm = storesql.Micros, storesql.Time

// CreateEnrollment implements enroll.Store.
func (s *Store) CreateEnrollment(ctx context.Context, e enroll.Enrollment, audit []enroll.AuditEvent) error {
	if err := storesql.CheckEnrollment(&e); err != nil {
		return fmt.Errorf("sqlite: create enrollment: %w", err)
	}
	if e.Version != 1 {
		return fmt.Errorf("sqlite: create enrollment %s: version %d, want 1", e.ID, e.Version)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO enrollments (`+storesql.EnrollmentColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, storesql.EnrollmentArgs(&e)...)
		if err != nil {
			return err
		}
		return appendAudit(ctx, tx, audit)
	})
	return mapErr(err, "create enrollment "+e.ID)
}

// GetEnrollment implements enroll.Store.
func (s *Store) GetEnrollment(ctx context.Context, id string) (enroll.Enrollment, error) {
	e, err := storesql.ScanEnrollment(s.r.QueryRowContext(ctx, `SELECT `+storesql.EnrollmentColumns+` FROM enrollments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("sqlite: enrollment %s: %w", id, enroll.ErrNotFound)
	}
	return e, mapErr(err, "get enrollment "+id)
}

// UpdateEnrollment implements enroll.Store.
func (s *Store) UpdateEnrollment(ctx context.Context, e enroll.Enrollment, audit []enroll.AuditEvent, outbox []enroll.OutboxMessage) error {
	if err := storesql.CheckEnrollment(&e); err != nil {
		return fmt.Errorf("sqlite: update enrollment: %w", err)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error { return storesql.Change(txn{ctx, tx}, &e, audit, outbox) })
	return mapErr(err, "update enrollment "+e.ID)
}

// txn is a write transaction as storesql's shared steps take it.
type txn struct {
	ctx context.Context
	tx  *sql.Tx
}

func (t txn) CompareAndSet(e *enroll.Enrollment) error       { return updateEnrollment(t.ctx, t.tx, e) }
func (t txn) AppendAudit(events []enroll.AuditEvent) error   { return appendAudit(t.ctx, t.tx, events) }
func (t txn) Enqueue(m *enroll.OutboxMessage) (int64, error) { return enqueue(t.ctx, t.tx, m) }
func (txn) Changed(string) error                             { return nil } // no watchers

func (t txn) Exec(query string, args ...any) error {
	_, err := t.tx.ExecContext(t.ctx, query, args...)
	return err
}
func (t txn) QueryRow(query string, args ...any) storesql.Scanner {
	return t.tx.QueryRowContext(t.ctx, query, args...)
}
func (txn) NoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// updateEnrollment is the compare-and-set on version.
func updateEnrollment(ctx context.Context, tx *sql.Tx, e *enroll.Enrollment) error {
	args := storesql.EnrollmentArgs(e)
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
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return storesql.VersionMissed(e, v, err == nil)
}

// RecoverCalling implements enroll.Store.
func (s *Store) RecoverCalling(ctx context.Context, node string, now time.Time) ([]enroll.Enrollment, error) {
	var out []enroll.Enrollment
	err := s.tx(ctx, func(tx *sql.Tx) error {
		found, err := queryEnrollments(ctx, tx, `WHERE state = ? AND (node = ? OR ? = '') ORDER BY created_at, id`,
			enroll.StateCalling.String(), node, node)
		if err != nil {
			return err
		}
		out, err = storesql.Recover(txn{ctx, tx}, found, now)
		return err
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
	rows, err := db.QueryContext(ctx, `SELECT `+storesql.EnrollmentColumns+` FROM enrollments `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return storesql.Collect(rows, storesql.ScanEnrollment)
}

func appendAudit(ctx context.Context, db execer, events []enroll.AuditEvent) error {
	for _, ev := range events {
		args, err := storesql.AuditArgs(&ev)
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO audit_events (`+storesql.AuditColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
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
	rows, err := s.r.QueryContext(ctx, `SELECT `+storesql.AuditColumns+`
		FROM audit_events WHERE enrollment_id = ? ORDER BY seq`, enrollmentID)
	if err != nil {
		return nil, mapErr(err, "list audit")
	}
	defer rows.Close()
	evs, err := storesql.Collect(rows, storesql.ScanAudit)
	return evs, mapErr(err, "list audit")
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
		_, err := tx.ExecContext(ctx, `INSERT INTO app_passwords (`+storesql.AppPasswordColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, storesql.AppPasswordArgs(&p)...)
		return err
	})
	return mapErr(err, "create app password")
}

// ListAppPasswords implements enroll.Store.
func (s *Store) ListAppPasswords(ctx context.Context, userID string) ([]enroll.AppPassword, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+storesql.AppPasswordColumns+`
		FROM app_passwords WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, mapErr(err, "list app passwords")
	}
	defer rows.Close()
	ps, err := storesql.Collect(rows, storesql.ScanAppPassword)
	return ps, mapErr(err, "list app passwords")
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
	args, err := storesql.APIKeyArgs(&k)
	if err != nil {
		return fmt.Errorf("sqlite: create API key %s: %w", k.Name, err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (`+storesql.APIKeyColumns+`) VALUES (?, ?, ?, ?, ?)`, args...)
		return err
	})
	return mapErr(err, "create API key "+k.Name)
}

// APIKeyByHash implements enroll.Store.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (enroll.APIKey, error) {
	k, err := storesql.ScanAPIKey(s.r.QueryRowContext(ctx, `SELECT `+storesql.APIKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return k, fmt.Errorf("sqlite: API key: %w", enroll.ErrNotFound)
	}
	return k, mapErr(err, "API key")
}

// ListAPIKeys implements enroll.Store.
func (s *Store) ListAPIKeys(ctx context.Context) ([]enroll.APIKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+storesql.APIKeyColumns+` FROM api_keys ORDER BY name`)
	if err != nil {
		return nil, mapErr(err, "list API keys")
	}
	defer rows.Close()
	ks, err := storesql.Collect(rows, storesql.ScanAPIKey)
	return ks, mapErr(err, "list API keys")
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
		_, err := tx.ExecContext(ctx, `INSERT INTO blocked_numbers (`+storesql.BlockedNumberColumns+`)
			VALUES (?, ?, ?, ?) ON CONFLICT (phone) DO NOTHING`, storesql.BlockedNumberArgs(&b)...)
		return err
	})
	return mapErr(err, "block number")
}

// BlockedNumber implements enroll.Store.
func (s *Store) BlockedNumber(ctx context.Context, phone string) (enroll.BlockedNumber, error) {
	b, err := storesql.ScanBlockedNumber(s.r.QueryRowContext(ctx, `SELECT `+storesql.BlockedNumberColumns+`
		FROM blocked_numbers WHERE phone = ?`, phone))
	if errors.Is(err, sql.ErrNoRows) {
		return b, fmt.Errorf("sqlite: blocked number: %w", enroll.ErrNotFound)
	}
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
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		counts, err = storesql.AddEach(changes, func(c enroll.CounterChange) (n int64, err error) {
			err = addCounter(ctx, tx, c.Bucket, c.Window, c.Delta).Scan(&n)
			return n, err
		})
		return err
	})
	if errors.Is(err, storesql.ErrRefused) {
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
	res, err := db.ExecContext(ctx, `INSERT INTO outbox (`+storesql.OutboxInsertColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, storesql.OutboxArgs(m)...)
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

// scanOutbox reads the messages of rows (selected as
// storesql.OutboxColumns) and closes it.
func scanOutbox(rows *sql.Rows) ([]enroll.OutboxMessage, error) {
	defer rows.Close()
	out, err := storesql.Collect(rows, storesql.ScanOutbox)
	if err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// ClaimOutbox implements enroll.Store.
func (s *Store) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]enroll.OutboxMessage, error) {
	var out []enroll.OutboxMessage
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+storesql.OutboxColumns+` FROM outbox
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
		if err := storesql.CheckRedeliverable(delivered, dead); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE outbox SET attempts = 0, dead_at = 0, next_attempt_at = ? WHERE id = ?`, ts(now), id)
		return err
	})
	return mapErr(err, fmt.Sprintf("outbox %d redeliver", id))
}

// ListOutbox implements enroll.Store.
func (s *Store) ListOutbox(ctx context.Context, state enroll.OutboxState, limit int) ([]enroll.OutboxMessage, error) {
	where, err := storesql.OutboxWhere(state)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list outbox: %w", err)
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+storesql.OutboxColumns+` FROM outbox WHERE `+where+` ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, mapErr(err, "list outbox")
	}
	out, err := scanOutbox(rows)
	return out, mapErr(err, "list outbox")
}

// CountOutbox implements enroll.Store. Both counts read a partial index
// that holds only the undelivered messages.
func (s *Store) CountOutbox(ctx context.Context) (pending, dead int64, err error) {
	err = s.r.QueryRowContext(ctx, storesql.CountOutboxSQL).Scan(&pending, &dead)
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
