// Package storesql is what the SQL stores (enroll/store/sqlite,
// enroll/store/postgres) share: each record's columns in one order, its
// values as statement arguments in that order, the scanning of a row back
// into the record, and the time encoding. The two stores keep their own
// SQL (placeholders, locking and upserts differ); their tables have the
// same columns, so one list of them serves both.
//
// Times are stored as integer microseconds since the Unix epoch, UTC, 0
// meaning "not set": what goes in as enroll.Now gives comes out equal.
// States and outcomes are stored as their String forms.
package storesql

import (
	"errors"
	"fmt"
	"time"

	"denwa/enroll"
)

// Scanner is a row: *sql.Row, *sql.Rows, pgx.Row and pgx.Rows are.
type Scanner interface {
	Scan(dest ...any) error
}

// Rows is a result set: *sql.Rows and pgx.Rows are.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect scans every row of rows with scan. The caller closes rows.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Micros is t as stored: microseconds since the epoch, 0 for the zero time.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// Time is the inverse of Micros, in UTC.
func Time(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// EnrollmentColumns are the columns of an enrollment, in the order of
// EnrollmentArgs and ScanEnrollment.
const EnrollmentColumns = `id, user_id, phone, country, client_ip, state, version, attempts, outcome, cause,
	key_source, node, created_at, updated_at, expires_at, verified_at, completed_at`

// EnrollmentArgs are e's values in EnrollmentColumns order.
func EnrollmentArgs(e *enroll.Enrollment) []any {
	return []any{e.ID, e.UserID, e.Phone, e.Country, e.ClientIP, e.State.String(), e.Version, e.Attempts,
		e.Outcome.String(), e.Cause, e.KeySource, e.Node, Micros(e.CreatedAt), Micros(e.UpdatedAt), Micros(e.ExpiresAt),
		Micros(e.VerifiedAt), Micros(e.CompletedAt)}
}

// ScanEnrollment reads an enrollment selected as EnrollmentColumns.
func ScanEnrollment(sc Scanner) (enroll.Enrollment, error) {
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
	e.CreatedAt, e.UpdatedAt, e.ExpiresAt = Time(created), Time(updated), Time(expires)
	e.VerifiedAt, e.CompletedAt = Time(verified), Time(completed)
	return e, nil
}

// CheckEnrollment refuses an enrollment no store may hold: no ID, or a
// state or outcome that is not one.
func CheckEnrollment(e *enroll.Enrollment) error {
	if e.ID == "" || !e.State.Valid() || e.State == enroll.StateUnknown || !e.Outcome.Valid() {
		return fmt.Errorf("invalid enrollment (id %q, state %v, outcome %v)", e.ID, e.State, e.Outcome)
	}
	return nil
}

// VersionMissed is the error of a compare-and-set on e's version
// (UPDATE … WHERE id = e.ID AND version = e.Version-1) that changed no
// row, given what a read of the stored version then found:
// ErrNotFound when there is no such enrollment, else ErrConflict.
func VersionMissed(e *enroll.Enrollment, stored int64, found bool) error {
	if !found {
		return enroll.ErrNotFound
	}
	return fmt.Errorf("%w: stored version %d, expected %d", enroll.ErrConflict, stored, e.Version-1)
}

// Tx is a store's write transaction, in the terms of the steps the
// stores share (Change, Recover).
type Tx interface {
	// CompareAndSet replaces the stored enrollment e.ID with e if its
	// version is still e.Version-1 (see VersionMissed).
	CompareAndSet(e *enroll.Enrollment) error
	// AppendAudit inserts the audit events.
	AppendAudit(events []enroll.AuditEvent) error
	// Enqueue queues the outbox message and returns its ID.
	Enqueue(m *enroll.OutboxMessage) (int64, error)
	// Changed is told of each enrollment the transaction changes, for the
	// watchers of a store that has them.
	Changed(id string) error

	// Exec and QueryRow run a statement written with ? placeholders;
	// NoRows reports whether QueryRow's Scan found no row.
	Exec(query string, args ...any) error
	QueryRow(query string, args ...any) Scanner
	NoRows(err error) bool
}

// Change is what Store.UpdateEnrollment stores, in tx: the
// compare-and-set, the audit events, the outbox messages.
func Change(tx Tx, e *enroll.Enrollment, audit []enroll.AuditEvent, outbox []enroll.OutboxMessage) error {
	if err := tx.CompareAndSet(e); err != nil {
		return err
	}
	if err := tx.AppendAudit(audit); err != nil {
		return err
	}
	for _, m := range outbox {
		if _, err := tx.Enqueue(&m); err != nil {
			return err
		}
	}
	return tx.Changed(e.ID)
}

// Recover is what Store.RecoverCalling stores, in the transaction tx
// that found the calls in calling: for each, what enroll.RecoveredCall(e,
// now) gives (failed as interrupted, its audit event, its webhook). It
// returns the recovered enrollments.
func Recover(tx Tx, found []enroll.Enrollment, now time.Time) ([]enroll.Enrollment, error) {
	out := make([]enroll.Enrollment, 0, len(found))
	for _, e := range found {
		if e.State != enroll.StateCalling {
			continue
		}
		next, ev, m := enroll.RecoveredCall(e, now)
		if err := Change(tx, &next, []enroll.AuditEvent{ev}, []enroll.OutboxMessage{m}); err != nil {
			return nil, err
		}
		out = append(out, next)
	}
	return out, nil
}

// ErrRefused is what AddEach returns when a change passes its Max: the
// caller's transaction rolls back on it.
var ErrRefused = errors.New("storesql: a counter would pass its Max")

// AddEach is the loop of Store.AddCounters: it applies the changes in
// order with add (one change in the caller's transaction, giving the new
// count) and returns the counts, stopping with ErrRefused after the first
// change whose count passes its positive Max.
func AddEach(changes []enroll.CounterChange, add func(enroll.CounterChange) (int64, error)) ([]int64, error) {
	counts := make([]int64, 0, len(changes))
	for _, c := range changes {
		n, err := add(c)
		if err != nil {
			return nil, err
		}
		counts = append(counts, n)
		if c.Max > 0 && n > c.Max {
			return counts, ErrRefused
		}
	}
	return counts, nil
}

// AuditColumns are the columns of an audit event, in the order of
// AuditArgs and ScanAudit.
const AuditColumns = `id, enrollment_id, at, actor, action, from_state, to_state, outcome, cause, key_source,
	keys, request_id, attempt, node, answered_at, key_at`

// AuditArgs are ev's values in AuditColumns order; an event without ID or
// enrollment ID is refused.
func AuditArgs(ev *enroll.AuditEvent) ([]any, error) {
	if ev.ID == "" || ev.EnrollmentID == "" {
		return nil, fmt.Errorf("audit event without ID or enrollment ID")
	}
	return []any{ev.ID, ev.EnrollmentID, Micros(ev.At), string(ev.Actor), ev.Action, ev.From.String(), ev.To.String(),
		ev.Outcome.String(), ev.Cause, ev.KeySource, ev.Keys, ev.RequestID, ev.Attempt,
		ev.Node, Micros(ev.AnsweredAt), Micros(ev.KeyAt)}, nil
}

// ScanAudit reads an audit event selected as AuditColumns.
func ScanAudit(sc Scanner) (enroll.AuditEvent, error) {
	var ev enroll.AuditEvent
	var at, answered, key int64
	var actor, from, to, outcome string
	err := sc.Scan(&ev.ID, &ev.EnrollmentID, &at, &actor, &ev.Action, &from, &to, &outcome,
		&ev.Cause, &ev.KeySource, &ev.Keys, &ev.RequestID, &ev.Attempt, &ev.Node, &answered, &key)
	if err != nil {
		return ev, err
	}
	ev.At, ev.Actor, ev.AnsweredAt, ev.KeyAt = Time(at), enroll.Actor(actor), Time(answered), Time(key)
	if ev.From, err = enroll.ParseState(from); err != nil {
		return ev, err
	}
	if ev.To, err = enroll.ParseState(to); err != nil {
		return ev, err
	}
	ev.Outcome, err = enroll.ParseOutcome(outcome)
	return ev, err
}

// AppPasswordColumns are the columns of an app password, in the order of
// AppPasswordArgs and ScanAppPassword.
const AppPasswordColumns = `id, user_id, name, hash, created_at, last_used_at, revoked_at`

// AppPasswordArgs are p's values in AppPasswordColumns order.
func AppPasswordArgs(p *enroll.AppPassword) []any {
	return []any{p.ID, p.UserID, p.Name, p.Hash, Micros(p.CreatedAt), Micros(p.LastUsedAt), Micros(p.RevokedAt)}
}

// ScanAppPassword reads an app password selected as AppPasswordColumns.
func ScanAppPassword(sc Scanner) (enroll.AppPassword, error) {
	var p enroll.AppPassword
	var c, u, r int64
	err := sc.Scan(&p.ID, &p.UserID, &p.Name, &p.Hash, &c, &u, &r)
	p.CreatedAt, p.LastUsedAt, p.RevokedAt = Time(c), Time(u), Time(r)
	return p, err
}

// APIKeyColumns are the columns of an API key, in the order of APIKeyArgs
// and ScanAPIKey.
const APIKeyColumns = `name, hash, scopes, created_at, revoked_at`

// APIKeyArgs are k's values in APIKeyColumns order; a key with no scope,
// or with a scope that is not one, gives ErrInvalidInput.
func APIKeyArgs(k *enroll.APIKey) ([]any, error) {
	if k.Scopes == 0 || k.Scopes&^enroll.AllScopes != 0 {
		return nil, fmt.Errorf("%w: scopes %#x", enroll.ErrInvalidInput, uint8(k.Scopes))
	}
	return []any{k.Name, k.Hash, k.Scopes.String(), Micros(k.CreatedAt), Micros(k.RevokedAt)}, nil
}

// ScanAPIKey reads an API key selected as APIKeyColumns.
func ScanAPIKey(sc Scanner) (enroll.APIKey, error) {
	var k enroll.APIKey
	var c, r int64
	var scopes string
	if err := sc.Scan(&k.Name, &k.Hash, &scopes, &c, &r); err != nil {
		return k, err
	}
	k.CreatedAt, k.RevokedAt = Time(c), Time(r)
	var err error
	k.Scopes, err = enroll.ParseScopes(scopes)
	return k, err
}

// BlockedNumberColumns are the columns of a blocked number, in the order
// of BlockedNumberArgs and ScanBlockedNumber.
const BlockedNumberColumns = `phone, reason, enrollment_id, blocked_at`

// BlockedNumberArgs are b's values in BlockedNumberColumns order.
func BlockedNumberArgs(b *enroll.BlockedNumber) []any {
	return []any{b.Phone, b.Reason, b.EnrollmentID, Micros(b.At)}
}

// ScanBlockedNumber reads a blocked number selected as
// BlockedNumberColumns.
func ScanBlockedNumber(sc Scanner) (enroll.BlockedNumber, error) {
	var b enroll.BlockedNumber
	var at int64
	err := sc.Scan(&b.Phone, &b.Reason, &b.EnrollmentID, &at)
	b.At = Time(at)
	return b, err
}

// OutboxInsertColumns are the columns a new outbox message is inserted
// with, in the order of OutboxArgs; the store assigns the ID, and a new
// message is not dead.
const OutboxInsertColumns = `event, enrollment_id, payload, created_at, attempts, next_attempt_at, delivered_at, last_error`

// OutboxArgs are m's values in OutboxInsertColumns order (a nil payload
// stored empty).
func OutboxArgs(m *enroll.OutboxMessage) []any {
	payload := m.Payload
	if payload == nil {
		payload = []byte{}
	}
	return []any{m.Event, m.EnrollmentID, payload, Micros(m.CreatedAt), m.Attempts, Micros(m.NextAttemptAt),
		Micros(m.DeliveredAt), m.LastError}
}

// OutboxColumns are the columns ScanOutbox reads, in its order.
const OutboxColumns = `id, event, enrollment_id, payload, created_at, attempts, next_attempt_at, delivered_at, dead_at, last_error`

// ScanOutbox reads an outbox message selected as OutboxColumns.
func ScanOutbox(sc Scanner) (enroll.OutboxMessage, error) {
	var m enroll.OutboxMessage
	var c, n, d, dead int64
	err := sc.Scan(&m.ID, &m.Event, &m.EnrollmentID, &m.Payload, &c, &m.Attempts, &n, &d, &dead, &m.LastError)
	m.CreatedAt, m.NextAttemptAt, m.DeliveredAt, m.DeadAt = Time(c), Time(n), Time(d), Time(dead)
	return m, err
}

// OutboxWhere is the condition on the outbox table that selects the
// messages in state (every message for OutboxAny).
func OutboxWhere(state enroll.OutboxState) (string, error) {
	switch state {
	case enroll.OutboxAny:
		return "TRUE", nil
	case enroll.OutboxPending:
		return "delivered_at = 0 AND dead_at = 0", nil
	case enroll.OutboxDead:
		return "delivered_at = 0 AND dead_at <> 0", nil
	case enroll.OutboxDelivered:
		return "delivered_at <> 0", nil
	}
	return "", fmt.Errorf("%w: outbox state %v", enroll.ErrInvalidInput, state)
}

// CountOutboxSQL counts the pending and the dead messages, in one row.
const CountOutboxSQL = `SELECT
	(SELECT COUNT(*) FROM outbox WHERE delivered_at = 0 AND dead_at = 0),
	(SELECT COUNT(*) FROM outbox WHERE delivered_at = 0 AND dead_at <> 0)`

// CheckRedeliverable gives ErrOutboxNotDead, the refusal of
// RedeliverOutbox, unless the outbox message whose delivered_at and
// dead_at columns are those given is dead.
func CheckRedeliverable(deliveredAt, deadAt int64) error {
	if st := (enroll.OutboxMessage{DeliveredAt: Time(deliveredAt), DeadAt: Time(deadAt)}).State(); st != enroll.OutboxDead {
		return fmt.Errorf("%w: it is %s", enroll.ErrOutboxNotDead, st)
	}
	return nil
}
