package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"denwa/enroll"
)

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const enrollmentColumns = `id, user_id, phone, country, client_ip, state, version, attempts, outcome, cause,
	key_source, node, created_at, updated_at, expires_at, verified_at, completed_at`

func scanEnrollment(sc pgx.Row) (enroll.Enrollment, error) {
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

// notify tells the watchers of every node, once tx commits, that the
// enrollment id changed.
func notify(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify('`+notifyChannel+`', $1)`, id)
	return err
}

// CreateEnrollment implements enroll.Store.
func (s *Store) CreateEnrollment(ctx context.Context, e enroll.Enrollment, audit []enroll.AuditEvent) error {
	if err := checkEnrollment(&e); err != nil {
		return fmt.Errorf("postgres: create enrollment: %w", err)
	}
	if e.Version != 1 {
		return fmt.Errorf("postgres: create enrollment %s: version %d, want 1", e.ID, e.Version)
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO enrollments (`+enrollmentColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`, enrollmentArgs(&e)...)
		if err != nil {
			return err
		}
		if err := appendAudit(ctx, tx, audit); err != nil {
			return err
		}
		return notify(ctx, tx, e.ID)
	})
	return mapErr(ctx, err, "create enrollment "+e.ID)
}

// GetEnrollment implements enroll.Store.
func (s *Store) GetEnrollment(ctx context.Context, id string) (enroll.Enrollment, error) {
	e, err := scanEnrollment(s.pool.QueryRow(ctx, `SELECT `+enrollmentColumns+` FROM enrollments WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("postgres: enrollment %s: %w", id, enroll.ErrNotFound)
	}
	return e, mapErr(ctx, err, "get enrollment "+id)
}

// UpdateEnrollment implements enroll.Store.
func (s *Store) UpdateEnrollment(ctx context.Context, e enroll.Enrollment, audit []enroll.AuditEvent, outbox []enroll.OutboxMessage) error {
	if err := checkEnrollment(&e); err != nil {
		return fmt.Errorf("postgres: update enrollment: %w", err)
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
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
		return notify(ctx, tx, e.ID)
	})
	return mapErr(ctx, err, "update enrollment "+e.ID)
}

// updateEnrollment is the compare-and-set on version. A concurrent writer
// of the same row makes the UPDATE wait for its commit and then test the
// version it stored.
func updateEnrollment(ctx context.Context, tx pgx.Tx, e *enroll.Enrollment) error {
	args := enrollmentArgs(e)
	tag, err := tx.Exec(ctx, `UPDATE enrollments SET
		user_id = $2, phone = $3, country = $4, client_ip = $5, state = $6, version = $7, attempts = $8,
		outcome = $9, cause = $10, key_source = $11, node = $12, created_at = $13, updated_at = $14,
		expires_at = $15, verified_at = $16, completed_at = $17
		WHERE id = $1 AND version = $18`, append(args, e.Version-1)...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var v int64
	err = tx.QueryRow(ctx, `SELECT version FROM enrollments WHERE id = $1`, e.ID).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return enroll.ErrNotFound
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: stored version %d, expected %d", enroll.ErrConflict, v, e.Version-1)
}

// RecoverCalling implements enroll.Store. The calls are locked (FOR
// UPDATE) as they are read, so a node recovering them at the same moment
// as another waits and then finds them ended.
func (s *Store) RecoverCalling(ctx context.Context, node string, now time.Time) ([]enroll.Enrollment, error) {
	var out []enroll.Enrollment
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		found, err := queryEnrollments(ctx, tx, `WHERE state = $1 AND (node = $2 OR $2 = '') ORDER BY created_at, id FOR UPDATE`,
			enroll.StateCalling.String(), node)
		if err != nil {
			return err
		}
		for _, e := range found {
			if e.State != enroll.StateCalling {
				continue
			}
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
			if err := notify(ctx, tx, next.ID); err != nil {
				return err
			}
			out = append(out, next)
		}
		return nil
	})
	if err != nil {
		return nil, mapErr(ctx, err, "recover calling")
	}
	return out, nil
}

// CallingEnrollments implements enroll.Store.
func (s *Store) CallingEnrollments(ctx context.Context, node string) ([]enroll.Enrollment, error) {
	es, err := queryEnrollments(ctx, s.pool, `WHERE state = $1 AND node = $2 ORDER BY created_at, id`,
		enroll.StateCalling.String(), node)
	return es, mapErr(ctx, err, "calling enrollments")
}

// queryEnrollments returns the enrollments that the rest of a SELECT,
// where (WHERE …, ORDER BY …), picks.
func queryEnrollments(ctx context.Context, db querier, where string, args ...any) ([]enroll.Enrollment, error) {
	rows, err := db.Query(ctx, `SELECT `+enrollmentColumns+` FROM enrollments `+where, args...)
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

func appendAudit(ctx context.Context, tx pgx.Tx, events []enroll.AuditEvent) error {
	for _, ev := range events {
		if ev.ID == "" || ev.EnrollmentID == "" {
			return fmt.Errorf("audit event without ID or enrollment ID")
		}
		_, err := tx.Exec(ctx, `INSERT INTO audit_events (id, enrollment_id, at, actor, action,
			from_state, to_state, outcome, cause, key_source, keys, request_id, attempt)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
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
	err := s.tx(ctx, func(tx pgx.Tx) error { return appendAudit(ctx, tx, events) })
	return mapErr(ctx, err, "append audit")
}

// ListAudit implements enroll.Store.
func (s *Store) ListAudit(ctx context.Context, enrollmentID string) ([]enroll.AuditEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, enrollment_id, at, actor, action, from_state, to_state,
		outcome, cause, key_source, keys, request_id, attempt
		FROM audit_events WHERE enrollment_id = $1 ORDER BY seq`, enrollmentID)
	if err != nil {
		return nil, mapErr(ctx, err, "list audit")
	}
	defer rows.Close()
	var out []enroll.AuditEvent
	for rows.Next() {
		var ev enroll.AuditEvent
		var at int64
		var actor, from, to, outcome string
		if err := rows.Scan(&ev.ID, &ev.EnrollmentID, &at, &actor, &ev.Action, &from, &to, &outcome,
			&ev.Cause, &ev.KeySource, &ev.Keys, &ev.RequestID, &ev.Attempt); err != nil {
			return nil, mapErr(ctx, err, "list audit")
		}
		ev.At, ev.Actor = tm(at), enroll.Actor(actor)
		if ev.From, err = enroll.ParseState(from); err != nil {
			return nil, mapErr(ctx, err, "list audit")
		}
		if ev.To, err = enroll.ParseState(to); err != nil {
			return nil, mapErr(ctx, err, "list audit")
		}
		if ev.Outcome, err = enroll.ParseOutcome(outcome); err != nil {
			return nil, mapErr(ctx, err, "list audit")
		}
		out = append(out, ev)
	}
	return out, mapErr(ctx, rows.Err(), "list audit")
}

// CreateAppPassword implements enroll.Store. The count and the insert run
// under a transaction-scoped advisory lock on the user, so two nodes
// creating the user's last allowed password at once do not both succeed.
func (s *Store) CreateAppPassword(ctx context.Context, p enroll.AppPassword, max int) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('app_passwords:' || $1, 0))`, p.UserID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM app_passwords WHERE user_id = $1 AND revoked_at = 0`,
			p.UserID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return fmt.Errorf("%w: user has %d app passwords, at most %d", enroll.ErrLimit, n, max)
		}
		_, err := tx.Exec(ctx, `INSERT INTO app_passwords (id, user_id, name, hash, created_at, last_used_at, revoked_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, p.ID, p.UserID, p.Name, p.Hash, ts(p.CreatedAt), ts(p.LastUsedAt), ts(p.RevokedAt))
		return err
	})
	return mapErr(ctx, err, "create app password")
}

// ListAppPasswords implements enroll.Store.
func (s *Store) ListAppPasswords(ctx context.Context, userID string) ([]enroll.AppPassword, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, user_id, name, hash, created_at, last_used_at, revoked_at
		FROM app_passwords WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, mapErr(ctx, err, "list app passwords")
	}
	defer rows.Close()
	var out []enroll.AppPassword
	for rows.Next() {
		var p enroll.AppPassword
		var c, u, r int64
		if err := rows.Scan(&p.ID, &p.UserID, &p.Name, &p.Hash, &c, &u, &r); err != nil {
			return nil, mapErr(ctx, err, "list app passwords")
		}
		p.CreatedAt, p.LastUsedAt, p.RevokedAt = tm(c), tm(u), tm(r)
		out = append(out, p)
	}
	return out, mapErr(ctx, rows.Err(), "list app passwords")
}

// CountAppPasswords implements enroll.Store.
func (s *Store) CountAppPasswords(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM app_passwords WHERE user_id = $1 AND revoked_at = 0`, userID).Scan(&n)
	return n, mapErr(ctx, err, "count app passwords")
}

// RevokeAppPassword implements enroll.Store.
func (s *Store) RevokeAppPassword(ctx context.Context, userID, id string, at time.Time) error {
	err := mustAffect(s.pool.Exec(ctx, `UPDATE app_passwords
		SET revoked_at = CASE WHEN revoked_at = 0 THEN $1 ELSE revoked_at END
		WHERE id = $2 AND user_id = $3`, ts(at), id, userID))
	return mapErr(ctx, err, "revoke app password "+id)
}

// TouchAppPassword implements enroll.Store.
func (s *Store) TouchAppPassword(ctx context.Context, id string, at time.Time) error {
	err := mustAffect(s.pool.Exec(ctx, `UPDATE app_passwords SET last_used_at = $1 WHERE id = $2`, ts(at), id))
	return mapErr(ctx, err, "touch app password "+id)
}

// CreateAPIKey implements enroll.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k enroll.APIKey) error {
	if k.Scopes == 0 || k.Scopes&^enroll.AllScopes != 0 {
		return fmt.Errorf("postgres: create API key %s: %w: scopes %#x", k.Name, enroll.ErrInvalidInput, uint8(k.Scopes))
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (name, hash, scopes, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)`,
		k.Name, k.Hash, k.Scopes.String(), ts(k.CreatedAt), ts(k.RevokedAt))
	return mapErr(ctx, err, "create API key "+k.Name)
}

func scanAPIKey(sc pgx.Row) (enroll.APIKey, error) {
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
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, fmt.Errorf("postgres: API key: %w", enroll.ErrNotFound)
	}
	return k, mapErr(ctx, err, "API key")
}

// ListAPIKeys implements enroll.Store.
func (s *Store) ListAPIKeys(ctx context.Context) ([]enroll.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY name`)
	if err != nil {
		return nil, mapErr(ctx, err, "list API keys")
	}
	defer rows.Close()
	var out []enroll.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, mapErr(ctx, err, "list API keys")
		}
		out = append(out, k)
	}
	return out, mapErr(ctx, rows.Err(), "list API keys")
}

// RevokeAPIKey implements enroll.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, name string, at time.Time) error {
	err := mustAffect(s.pool.Exec(ctx, `UPDATE api_keys
		SET revoked_at = CASE WHEN revoked_at = 0 THEN $1 ELSE revoked_at END WHERE name = $2`, ts(at), name))
	return mapErr(ctx, err, "revoke API key "+name)
}

// BlockNumber implements enroll.Store.
func (s *Store) BlockNumber(ctx context.Context, b enroll.BlockedNumber) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO blocked_numbers (phone, reason, enrollment_id, blocked_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (phone) DO NOTHING`, b.Phone, b.Reason, b.EnrollmentID, ts(b.At))
	return mapErr(ctx, err, "block number")
}

// BlockedNumber implements enroll.Store.
func (s *Store) BlockedNumber(ctx context.Context, phone string) (enroll.BlockedNumber, error) {
	var b enroll.BlockedNumber
	var at int64
	err := s.pool.QueryRow(ctx, `SELECT phone, reason, enrollment_id, blocked_at FROM blocked_numbers WHERE phone = $1`,
		phone).Scan(&b.Phone, &b.Reason, &b.EnrollmentID, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("postgres: blocked number: %w", enroll.ErrNotFound)
	}
	b.At = tm(at)
	return b, mapErr(ctx, err, "blocked number")
}

// UnblockNumber implements enroll.Store.
func (s *Store) UnblockNumber(ctx context.Context, phone string) error {
	err := mustAffect(s.pool.Exec(ctx, `DELETE FROM blocked_numbers WHERE phone = $1`, phone))
	return mapErr(ctx, err, "unblock number")
}

// addCounterSQL adds to a counter and returns its new count in one
// statement; within a transaction, the row stays locked until it ends, so
// a concurrent taker waits and then adds to the committed count.
const addCounterSQL = `INSERT INTO rate_counters AS c (bucket, window_start, count) VALUES ($1, $2, $3)
	ON CONFLICT (bucket, window_start) DO UPDATE SET count = c.count + excluded.count
	RETURNING count`

// AddCounter implements enroll.Store.
func (s *Store) AddCounter(ctx context.Context, bucket string, window time.Time, delta int64) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, addCounterSQL, bucket, ts(window), delta).Scan(&n)
	return n, mapErr(ctx, err, "add counter")
}

// errRefused rolls back the transaction of AddCounters when a change
// passes its Max.
var errRefused = errors.New("refused")

// AddCounters implements enroll.Store: the changes in one transaction,
// each an upsert that locks its row; the first to pass its Max rolls them
// all back. Several changes first take an advisory lock per counter, in
// the order of their names, so that two nodes taking the same counters
// in different orders wait for each other instead of deadlocking.
func (s *Store) AddCounters(ctx context.Context, changes []enroll.CounterChange) ([]int64, bool, error) {
	var counts []int64
	var buckets []string
	var windows []int64
	if len(changes) > 1 {
		sorted := slices.Clone(changes)
		slices.SortFunc(sorted, func(a, b enroll.CounterChange) int {
			return cmp.Or(strings.Compare(a.Bucket, b.Bucket), cmp.Compare(ts(a.Window), ts(b.Window)))
		})
		for _, c := range sorted {
			buckets, windows = append(buckets, c.Bucket), append(windows, ts(c.Window))
		}
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		counts = counts[:0]
		if len(buckets) > 0 {
			// unnest gives the rows in the arrays' order, which the locks
			// are taken in.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('rate_counters:' || b || ':' || w, 0))
				FROM unnest($1::text[], $2::bigint[]) AS x (b, w)`, buckets, windows); err != nil {
				return err
			}
		}
		for _, c := range changes {
			var n int64
			if err := tx.QueryRow(ctx, addCounterSQL, c.Bucket, ts(c.Window), c.Delta).Scan(&n); err != nil {
				return err
			}
			counts = append(counts, n)
			if c.Max > 0 && n > c.Max {
				return errRefused
			}
		}
		return nil
	})
	if errors.Is(err, errRefused) {
		return counts, false, nil
	}
	if err != nil {
		return nil, false, mapErr(ctx, err, "add counters")
	}
	if counts == nil {
		counts = []int64{}
	}
	return counts, true, nil
}

// PruneCounters implements enroll.Store.
func (s *Store) PruneCounters(ctx context.Context, before time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM rate_counters WHERE window_start < $1`, ts(before))
	return mapErr(ctx, err, "prune counters")
}

func enqueue(ctx context.Context, db querier, m *enroll.OutboxMessage) (int64, error) {
	payload := m.Payload
	if payload == nil {
		payload = []byte{}
	}
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO outbox (event, enrollment_id, payload, created_at, attempts,
		next_attempt_at, delivered_at, last_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		m.Event, m.EnrollmentID, payload, ts(m.CreatedAt), m.Attempts, ts(m.NextAttemptAt), ts(m.DeliveredAt), m.LastError).Scan(&id)
	return id, err
}

// EnqueueOutbox implements enroll.Store.
func (s *Store) EnqueueOutbox(ctx context.Context, m enroll.OutboxMessage) (int64, error) {
	id, err := enqueue(ctx, s.pool, &m)
	return id, mapErr(ctx, err, "enqueue outbox")
}

// outboxColumns are the columns scanOutbox reads, in its order.
const outboxColumns = `id, event, enrollment_id, payload, created_at, attempts,
	next_attempt_at, delivered_at, dead_at, last_error`

// scanOutbox reads the messages of rows (selected as outboxColumns) and
// closes it.
func scanOutbox(rows pgx.Rows) ([]enroll.OutboxMessage, error) {
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
	return out, rows.Err()
}

// ClaimOutbox implements enroll.Store: one statement picks the due
// messages, skipping those another deliverer has locked (FOR UPDATE SKIP
// LOCKED), and moves their next attempt past the lease.
func (s *Store) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]enroll.OutboxMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `WITH due AS (
			SELECT id, next_attempt_at AS was FROM outbox
			WHERE delivered_at = 0 AND dead_at = 0 AND next_attempt_at <= $1
			ORDER BY next_attempt_at, id LIMIT $2
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE outbox o SET next_attempt_at = $3 FROM due WHERE o.id = due.id
			RETURNING o.id, o.event, o.enrollment_id, o.payload, o.created_at, o.attempts,
				o.next_attempt_at, o.delivered_at, o.dead_at, o.last_error, due.was
		)
		SELECT `+outboxColumns+` FROM claimed ORDER BY was, id`, ts(now), limit, ts(now.Add(lease)))
	if err != nil {
		return nil, mapErr(ctx, err, "claim outbox")
	}
	out, err := scanOutbox(rows)
	if err != nil {
		return nil, mapErr(ctx, err, "claim outbox")
	}
	return out, nil
}

// MarkOutboxDelivered implements enroll.Store.
func (s *Store) MarkOutboxDelivered(ctx context.Context, id int64, at time.Time) error {
	err := mustAffect(s.pool.Exec(ctx, `UPDATE outbox SET delivered_at = $1 WHERE id = $2`, ts(at), id))
	return mapErr(ctx, err, fmt.Sprintf("outbox %d delivered", id))
}

// MarkOutboxFailed implements enroll.Store.
func (s *Store) MarkOutboxFailed(ctx context.Context, id int64, next time.Time, lastError string) error {
	err := mustAffect(s.pool.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1,
		last_error = $2 WHERE id = $3`, ts(next), lastError, id))
	return mapErr(ctx, err, fmt.Sprintf("outbox %d failed", id))
}

// MarkOutboxDead implements enroll.Store.
func (s *Store) MarkOutboxDead(ctx context.Context, id int64, at time.Time, lastError string) error {
	err := mustAffect(s.pool.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = 0,
		dead_at = $1, last_error = $2 WHERE id = $3`, max(ts(at), 1), lastError, id))
	return mapErr(ctx, err, fmt.Sprintf("outbox %d dead", id))
}

// RedeliverOutbox implements enroll.Store.
func (s *Store) RedeliverOutbox(ctx context.Context, id int64, now time.Time) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var delivered, dead int64
		err := tx.QueryRow(ctx, `SELECT delivered_at, dead_at FROM outbox WHERE id = $1 FOR UPDATE`, id).Scan(&delivered, &dead)
		if errors.Is(err, pgx.ErrNoRows) {
			return enroll.ErrNotFound
		}
		if err != nil {
			return err
		}
		if st := (enroll.OutboxMessage{DeliveredAt: tm(delivered), DeadAt: tm(dead)}).State(); st != enroll.OutboxDead {
			return fmt.Errorf("%w: it is %s", enroll.ErrOutboxNotDead, st)
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET attempts = 0, dead_at = 0, next_attempt_at = $1 WHERE id = $2`, ts(now), id)
		return err
	})
	return mapErr(ctx, err, fmt.Sprintf("outbox %d redeliver", id))
}

// ListOutbox implements enroll.Store.
func (s *Store) ListOutbox(ctx context.Context, state enroll.OutboxState, limit int) ([]enroll.OutboxMessage, error) {
	var where string
	switch state {
	case enroll.OutboxAny:
		where = "true"
	case enroll.OutboxPending:
		where = "delivered_at = 0 AND dead_at = 0"
	case enroll.OutboxDead:
		where = "delivered_at = 0 AND dead_at <> 0"
	case enroll.OutboxDelivered:
		where = "delivered_at <> 0"
	default:
		return nil, fmt.Errorf("postgres: list outbox: %w: state %v", enroll.ErrInvalidInput, state)
	}
	var lim *int // NULL: no limit
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE `+where+` ORDER BY id LIMIT $1`, lim)
	if err != nil {
		return nil, mapErr(ctx, err, "list outbox")
	}
	out, err := scanOutbox(rows)
	return out, mapErr(ctx, err, "list outbox")
}

// CountOutbox implements enroll.Store. Both counts read a partial index
// that holds only the undelivered messages.
func (s *Store) CountOutbox(ctx context.Context) (pending, dead int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM outbox WHERE delivered_at = 0 AND dead_at = 0),
		(SELECT COUNT(*) FROM outbox WHERE delivered_at = 0 AND dead_at <> 0)`).Scan(&pending, &dead)
	if err != nil {
		return 0, 0, mapErr(ctx, err, "count outbox")
	}
	return pending, dead, nil
}

// UseToken implements enroll.Store. Of concurrent inserts of one token,
// the later ones wait for the first to commit and then insert nothing.
func (s *Store) UseToken(ctx context.Context, tokenID string, expires, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO used_tokens (token_id, used_at, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (token_id) DO NOTHING`, tokenID, ts(at), ts(expires))
	if err == nil && tag.RowsAffected() == 0 {
		err = enroll.ErrTokenUsed
	}
	return mapErr(ctx, err, "use token")
}

// TokenUsed implements enroll.Store.
func (s *Store) TokenUsed(ctx context.Context, tokenID string) (bool, error) {
	var used bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM used_tokens WHERE token_id = $1)`, tokenID).Scan(&used)
	if err != nil {
		return false, mapErr(ctx, err, "token used")
	}
	return used, nil
}

// PruneTokens implements enroll.Store.
func (s *Store) PruneTokens(ctx context.Context, before time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM used_tokens WHERE expires_at < $1`, ts(before))
	return mapErr(ctx, err, "prune tokens")
}

// RenewNodeLease implements enroll.Store.
func (s *Store) RenewNodeLease(ctx context.Context, node string, until time.Time) error {
	if node == "" {
		return fmt.Errorf("postgres: renew node lease: %w: empty node name", enroll.ErrInvalidInput)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO nodes (name, lease_until) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET lease_until = excluded.lease_until`, node, ts(until))
	return mapErr(ctx, err, "renew node lease "+node)
}

// LostNodes implements enroll.Store.
func (s *Store) LostNodes(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name FROM nodes WHERE lease_until <= $1
		AND EXISTS (SELECT 1 FROM enrollments WHERE state = $2 AND node = nodes.name)
		ORDER BY name`,
		ts(now), enroll.StateCalling.String())
	if err != nil {
		return nil, mapErr(ctx, err, "lost nodes")
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, mapErr(ctx, err, "lost nodes")
	}
	return names, nil
}

// Ping implements enroll.Store: a round trip on a connection of the pool.
func (s *Store) Ping(ctx context.Context) error {
	return mapErr(ctx, s.pool.Ping(ctx), "ping")
}
