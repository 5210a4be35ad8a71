package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"denwa/enroll"
)

// The operators' view: the lists the admin API pages through, newest
// first, and the operator events.

// where builds a WHERE clause from conditions joined by AND, each with
// its arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// after adds the cursor of a newest-first list ordered by (t, key):
// records strictly older, or as old with a smaller key.
func (w *where) after(tcol, kcol string, t int64, key string) {
	w.add("("+tcol+" < ? OR ("+tcol+" = ? AND "+kcol+" < ?))", t, t, key)
}

// window adds from <= col < to, each bound only when not zero.
func (w *where) window(col string, from, to time.Time) {
	if !from.IsZero() {
		w.add(col+" >= ?", ts(from))
	}
	if !to.IsZero() {
		w.add(col+" < ?", ts(to))
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// limit returns the LIMIT clause of a list: SQLite takes -1 for none.
func limit(n int) string {
	if n <= 0 {
		return " LIMIT -1"
	}
	return fmt.Sprintf(" LIMIT %d", n)
}

// ListEnrollments implements enroll.Store.
func (s *Store) ListEnrollments(ctx context.Context, f enroll.EnrollmentFilter) ([]enroll.Enrollment, error) {
	var w where
	if f.UserID != "" {
		w.add("user_id = ?", f.UserID)
	}
	if f.Phone != "" {
		w.add("phone = ?", f.Phone)
	}
	if f.State != enroll.StateUnknown {
		w.add("state = ?", f.State.String())
	}
	if f.Outcome != enroll.OutcomeUnknown {
		w.add("outcome = ?", f.Outcome.String())
	}
	w.window("created_at", f.CreatedFrom, f.CreatedTo)
	if f.AfterID != "" {
		w.after("created_at", "id", ts(f.AfterCreated), f.AfterID)
	}
	es, err := queryEnrollments(ctx, s.r, w.String()+` ORDER BY created_at DESC, id DESC`+limit(f.Limit), w.args...)
	return es, mapErr(err, "list enrollments")
}

// ListAuditEvents implements enroll.Store.
func (s *Store) ListAuditEvents(ctx context.Context, f enroll.AuditFilter) ([]enroll.AuditEvent, error) {
	var w where
	if f.Action != "" {
		w.add("action = ?", f.Action)
	}
	if f.Outcome != enroll.OutcomeUnknown {
		w.add("outcome = ?", f.Outcome.String())
	}
	w.window("at", f.From, f.To)
	if f.AfterID != "" {
		w.after("at", "id", ts(f.AfterAt), f.AfterID)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events`+w.String()+
		` ORDER BY at DESC, id DESC`+limit(f.Limit), w.args...)
	if err != nil {
		return nil, mapErr(err, "list audit events")
	}
	out, err := scanAudit(rows)
	return out, mapErr(err, "list audit events")
}

// ListBlockedNumbers implements enroll.Store.
func (s *Store) ListBlockedNumbers(ctx context.Context, f enroll.BlockedFilter) ([]enroll.BlockedNumber, error) {
	var w where
	if f.AfterPhone != "" {
		w.after("blocked_at", "phone", ts(f.AfterAt), f.AfterPhone)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT phone, reason, enrollment_id, blocked_at FROM blocked_numbers`+
		w.String()+` ORDER BY blocked_at DESC, phone DESC`+limit(f.Limit), w.args...)
	if err != nil {
		return nil, mapErr(err, "list blocked numbers")
	}
	defer rows.Close()
	var out []enroll.BlockedNumber
	for rows.Next() {
		var b enroll.BlockedNumber
		var at int64
		if err := rows.Scan(&b.Phone, &b.Reason, &b.EnrollmentID, &at); err != nil {
			return nil, mapErr(err, "list blocked numbers")
		}
		b.At = tm(at)
		out = append(out, b)
	}
	return out, mapErr(rows.Err(), "list blocked numbers")
}

// LiftBlock implements enroll.Store.
func (s *Store) LiftBlock(ctx context.Context, phone string, ev enroll.OperatorEvent) (enroll.BlockedNumber, error) {
	var b enroll.BlockedNumber
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var at int64
		err := tx.QueryRowContext(ctx, `SELECT phone, reason, enrollment_id, blocked_at FROM blocked_numbers WHERE phone = ?`,
			phone).Scan(&b.Phone, &b.Reason, &b.EnrollmentID, &at)
		if errors.Is(err, sql.ErrNoRows) {
			return enroll.ErrNotFound
		}
		if err != nil {
			return err
		}
		b.At = tm(at)
		if _, err := tx.ExecContext(ctx, `DELETE FROM blocked_numbers WHERE phone = ?`, phone); err != nil {
			return err
		}
		ev.EnrollmentID = b.EnrollmentID
		return appendOperatorEvent(ctx, tx, &ev)
	})
	if err != nil {
		return enroll.BlockedNumber{}, mapErr(err, "lift block")
	}
	return b, nil
}

func appendOperatorEvent(ctx context.Context, db execer, ev *enroll.OperatorEvent) error {
	if ev.ID == "" || ev.Action == "" {
		return fmt.Errorf("operator event without ID or action")
	}
	_, err := db.ExecContext(ctx, `INSERT INTO operator_events (`+operatorColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.ID, ts(ev.At), string(ev.Actor), ev.Action, ev.Target, ev.Reason, ev.EnrollmentID, ev.RequestID)
	return err
}

const operatorColumns = `id, at, actor, action, target, reason, enrollment_id, request_id`

// AppendOperatorEvent implements enroll.Store.
func (s *Store) AppendOperatorEvent(ctx context.Context, ev enroll.OperatorEvent) error {
	err := s.tx(ctx, func(tx *sql.Tx) error { return appendOperatorEvent(ctx, tx, &ev) })
	return mapErr(err, "append operator event")
}

// ListOperatorEvents implements enroll.Store.
func (s *Store) ListOperatorEvents(ctx context.Context, f enroll.OperatorEventFilter) ([]enroll.OperatorEvent, error) {
	var w where
	if f.EnrollmentID != "" {
		w.add("enrollment_id = ?", f.EnrollmentID)
	}
	if f.Target != "" {
		w.add("target = ?", f.Target)
	}
	if f.AfterID != "" {
		w.after("at", "id", ts(f.AfterAt), f.AfterID)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+operatorColumns+` FROM operator_events`+w.String()+
		` ORDER BY at DESC, id DESC`+limit(f.Limit), w.args...)
	if err != nil {
		return nil, mapErr(err, "list operator events")
	}
	defer rows.Close()
	var out []enroll.OperatorEvent
	for rows.Next() {
		var ev enroll.OperatorEvent
		var at int64
		var actor string
		if err := rows.Scan(&ev.ID, &at, &actor, &ev.Action, &ev.Target, &ev.Reason, &ev.EnrollmentID, &ev.RequestID); err != nil {
			return nil, mapErr(err, "list operator events")
		}
		ev.At, ev.Actor = tm(at), enroll.Actor(actor)
		out = append(out, ev)
	}
	return out, mapErr(rows.Err(), "list operator events")
}
