package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"denwa/enroll"
	"denwa/enroll/store/internal/storesql"
)

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// notify tells the watchers of every node, once tx commits, that the
// enrollment id changed.
func notify(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify('`+notifyChannel+`', $1)`, id)
	return err
}

// CreateEnrollment implements enroll.Store.
func (s *Store) CreateEnrollment(ctx context.Context, e enroll.Enrollment, audit []enroll.AuditEvent) error {
	if err := storesql.CheckEnrollment(&e); err != nil {
		return fmt.Errorf("postgres: create enrollment: %w", err)
	}
	if e.Version != 1 {
		return fmt.Errorf("postgres: create enrollment %s: version %d, want 1", e.ID, e.Version)
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO enrollments (`+storesql.EnrollmentColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`, storesql.EnrollmentArgs(&e)...)
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
	e, err := storesql.ScanEnrollment(s.pool.QueryRow(ctx, `SELECT `+storesql.EnrollmentColumns+` FROM enrollments WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("postgres: enrollment %s: %w", id, enroll.ErrNotFound)
	}
	return e, mapErr(ctx, err, "get enrollment "+id)
}

// UpdateEnrollment implements enroll.Store.
func (s *Store) UpdateEnrollment(ctx context.Context, e enroll.Enrollment, audit []enroll.AuditEvent, outbox []enroll.OutboxMessage) error {
	if err := storesql.CheckEnrollment(&e); err != nil {
		return fmt.Errorf("postgres: update enrollment: %w", err)
	}
	err := s.tx(ctx, func(tx pgx.Tx) error { return storesql.Change(txn{ctx, tx}, &e, audit, outbox) })
	return mapErr(ctx, err, "update enrollment "+e.ID)
}

// txn is a write transaction as storesql's shared steps take it.
type txn struct {
	ctx context.Context
	tx  pgx.Tx
}

func (t txn) CompareAndSet(e *enroll.Enrollment) error       { return updateEnrollment(t.ctx, t.tx, e) }
func (t txn) AppendAudit(events []enroll.AuditEvent) error   { return appendAudit(t.ctx, t.tx, events) }
func (t txn) Enqueue(m *enroll.OutboxMessage) (int64, error) { return enqueue(t.ctx, t.tx, m) }
func (t txn) Changed(id string) error                        { return notify(t.ctx, t.tx, id) }

func (t txn) Exec(query string, args ...any) error {
	_, err := t.tx.Exec(t.ctx, storesql.Dollar(query), args...)
	return err
}
func (t txn) QueryRow(query string, args ...any) storesql.Scanner {
	return t.tx.QueryRow(t.ctx, storesql.Dollar(query), args...)
}
func (txn) NoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// updateEnrollment is the compare-and-set on version. A concurrent writer
// of the same row makes the UPDATE wait for its commit and then test the
// version it stored.
func updateEnrollment(ctx context.Context, tx pgx.Tx, e *enroll.Enrollment) error {
	args := storesql.EnrollmentArgs(e)
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
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return storesql.VersionMissed(e, v, err == nil)
}

// RecoverCalling implements enroll.Store. The calls are locked (FOR
// UPDATE) as they are read, so a node recovering them at the same moment
// as another waits and then finds them ended.
func (s *Store) RecoverCalling(ctx context.Context, node string, now time.Time) ([]enroll.Enrollment, error) {
	var out []enroll.Enrollment
	err := s.tx(ctx, func(tx pgx.Tx) error {
		found, err := queryEnrollments(ctx, tx, `WHERE state = $1 AND (node = $2 OR $2 = '') ORDER BY created_at, id FOR UPDATE`,
			enroll.StateCalling.String(), node)
		if err != nil {
			return err
		}
		out, err = storesql.Recover(txn{ctx, tx}, found, now)
		return err
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
	rows, err := db.Query(ctx, `SELECT `+storesql.EnrollmentColumns+` FROM enrollments `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return storesql.Collect(rows, storesql.ScanEnrollment)
}

func appendAudit(ctx context.Context, tx pgx.Tx, events []enroll.AuditEvent) error {
	for _, ev := range events {
		args, err := storesql.AuditArgs(&ev)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_events (`+storesql.AuditColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, args...); err != nil {
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
	rows, err := s.pool.Query(ctx, `SELECT `+storesql.AuditColumns+`
		FROM audit_events WHERE enrollment_id = $1 ORDER BY seq`, enrollmentID)
	if err != nil {
		return nil, mapErr(ctx, err, "list audit")
	}
	defer rows.Close()
	evs, err := storesql.Collect(rows, storesql.ScanAudit)
	return evs, mapErr(ctx, err, "list audit")
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
		_, err := tx.Exec(ctx, `INSERT INTO app_passwords (`+storesql.AppPasswordColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, storesql.AppPasswordArgs(&p)...)
		return err
	})
	return mapErr(ctx, err, "create app password")
}

// ListAppPasswords implements enroll.Store.
func (s *Store) ListAppPasswords(ctx context.Context, userID string) ([]enroll.AppPassword, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+storesql.AppPasswordColumns+`
		FROM app_passwords WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, mapErr(ctx, err, "list app passwords")
	}
	defer rows.Close()
	ps, err := storesql.Collect(rows, storesql.ScanAppPassword)
	return ps, mapErr(ctx, err, "list app passwords")
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
	args, err := storesql.APIKeyArgs(&k)
	if err != nil {
		return fmt.Errorf("postgres: create API key %s: %w", k.Name, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO api_keys (`+storesql.APIKeyColumns+`) VALUES ($1, $2, $3, $4, $5)`, args...)
	return mapErr(ctx, err, "create API key "+k.Name)
}

// APIKeyByHash implements enroll.Store.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (enroll.APIKey, error) {
	k, err := storesql.ScanAPIKey(s.pool.QueryRow(ctx, `SELECT `+storesql.APIKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, fmt.Errorf("postgres: API key: %w", enroll.ErrNotFound)
	}
	return k, mapErr(ctx, err, "API key")
}

// ListAPIKeys implements enroll.Store.
func (s *Store) ListAPIKeys(ctx context.Context) ([]enroll.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+storesql.APIKeyColumns+` FROM api_keys ORDER BY name`)
	if err != nil {
		return nil, mapErr(ctx, err, "list API keys")
	}
	defer rows.Close()
	ks, err := storesql.Collect(rows, storesql.ScanAPIKey)
	return ks, mapErr(ctx, err, "list API keys")
}

// RevokeAPIKey implements enroll.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, name string, at time.Time) error {
	err := mustAffect(s.pool.Exec(ctx, `UPDATE api_keys
		SET revoked_at = CASE WHEN revoked_at = 0 THEN $1 ELSE revoked_at END WHERE name = $2`, ts(at), name))
	return mapErr(ctx, err, "revoke API key "+name)
}

// BlockNumber implements enroll.Store.
func (s *Store) BlockNumber(ctx context.Context, b enroll.BlockedNumber) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO blocked_numbers (`+storesql.BlockedNumberColumns+`)
		VALUES ($1, $2, $3, $4) ON CONFLICT (phone) DO NOTHING`, storesql.BlockedNumberArgs(&b)...)
	return mapErr(ctx, err, "block number")
}

// BlockedNumber implements enroll.Store.
func (s *Store) BlockedNumber(ctx context.Context, phone string) (enroll.BlockedNumber, error) {
	b, err := storesql.ScanBlockedNumber(s.pool.QueryRow(ctx, `SELECT `+storesql.BlockedNumberColumns+`
		FROM blocked_numbers WHERE phone = $1`, phone))
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("postgres: blocked number: %w", enroll.ErrNotFound)
	}
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

// AddCounters implements enroll.Store in one statement: every counter
// the changes name is upserted once, with the sum of its deltas, in the
// order of the counters' names, so two nodes taking the same counters in
// different orders lock them in the same order and cannot deadlock. Each
// row stays locked until the transaction ends, so a concurrent taker
// waits and then adds to the committed count; the counts after each
// change, in the changes' order, follow from the final ones, and the first
// to pass its Max rolls the transaction back.
func (s *Store) AddCounters(ctx context.Context, changes []enroll.CounterChange) ([]int64, bool, error) {
	if len(changes) == 0 {
		return []int64{}, true, nil
	}
	type key struct {
		bucket string
		window int64
	}
	sum := map[key]int64{}
	for _, c := range changes {
		sum[key{c.Bucket, ts(c.Window)}] += c.Delta
	}
	keys := slices.SortedFunc(maps.Keys(sum), func(a, b key) int {
		return cmp.Or(strings.Compare(a.bucket, b.bucket), cmp.Compare(a.window, b.window))
	})
	buckets, windows, deltas := make([]string, len(keys)), make([]int64, len(keys)), make([]int64, len(keys))
	for i, k := range keys {
		buckets[i], windows[i], deltas[i] = k.bucket, k.window, sum[k]
	}
	var counts []int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// unnest gives the rows in the arrays' order, which the upserts
		// lock them in.
		rows, err := tx.Query(ctx, `INSERT INTO rate_counters AS c (bucket, window_start, count)
			SELECT b, w, d FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS x (b, w, d)
			ON CONFLICT (bucket, window_start) DO UPDATE SET count = c.count + excluded.count
			RETURNING bucket, window_start, count`, buckets, windows, deltas)
		if err != nil {
			return err
		}
		// running starts at each counter's count before the changes.
		running := map[key]int64{}
		var k key
		var n int64
		if _, err := pgx.ForEachRow(rows, []any{&k.bucket, &k.window, &n}, func() error {
			running[k] = n - sum[k]
			return nil
		}); err != nil {
			return err
		}
		counts, err = storesql.AddEach(changes, func(c enroll.CounterChange) (int64, error) {
			k := key{c.Bucket, ts(c.Window)}
			running[k] += c.Delta
			return running[k], nil
		})
		return err
	})
	if errors.Is(err, storesql.ErrRefused) {
		return counts, false, nil
	}
	if err != nil {
		return nil, false, mapErr(ctx, err, "add counters")
	}
	return counts, true, nil
}

// PruneCounters implements enroll.Store.
func (s *Store) PruneCounters(ctx context.Context, before time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM rate_counters WHERE window_start < $1`, ts(before))
	return mapErr(ctx, err, "prune counters")
}

func enqueue(ctx context.Context, db querier, m *enroll.OutboxMessage) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO outbox (`+storesql.OutboxInsertColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, storesql.OutboxArgs(m)...).Scan(&id)
	return id, err
}

// EnqueueOutbox implements enroll.Store.
func (s *Store) EnqueueOutbox(ctx context.Context, m enroll.OutboxMessage) (int64, error) {
	id, err := enqueue(ctx, s.pool, &m)
	return id, mapErr(ctx, err, "enqueue outbox")
}

// scanOutbox reads the messages of rows (selected as
// storesql.OutboxColumns) and closes it.
func scanOutbox(rows pgx.Rows) ([]enroll.OutboxMessage, error) {
	defer rows.Close()
	return storesql.Collect(rows, storesql.ScanOutbox)
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
		SELECT `+storesql.OutboxColumns+` FROM claimed ORDER BY was, id`, ts(now), limit, ts(now.Add(lease)))
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
		if err := storesql.CheckRedeliverable(delivered, dead); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET attempts = 0, dead_at = 0, next_attempt_at = $1 WHERE id = $2`, ts(now), id)
		return err
	})
	return mapErr(ctx, err, fmt.Sprintf("outbox %d redeliver", id))
}

// ListOutbox implements enroll.Store.
func (s *Store) ListOutbox(ctx context.Context, state enroll.OutboxState, limit int) ([]enroll.OutboxMessage, error) {
	where, err := storesql.OutboxWhere(state)
	if err != nil {
		return nil, fmt.Errorf("postgres: list outbox: %w", err)
	}
	var lim *int // NULL: no limit
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+storesql.OutboxColumns+` FROM outbox WHERE `+where+` ORDER BY id LIMIT $1`, lim)
	if err != nil {
		return nil, mapErr(ctx, err, "list outbox")
	}
	out, err := scanOutbox(rows)
	return out, mapErr(ctx, err, "list outbox")
}

// CountOutbox implements enroll.Store. Both counts read a partial index
// that holds only the undelivered messages.
func (s *Store) CountOutbox(ctx context.Context) (pending, dead int64, err error) {
	err = s.pool.QueryRow(ctx, storesql.CountOutboxSQL).Scan(&pending, &dead)
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
