package storesql

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"denwa/enroll"
)

// The operators' view: the lists the admin API pages through, newest
// first, and the operator events. The queries are written with ?
// placeholders; a store whose driver numbers them ($1, $2, …) passes them
// through Dollar.

// List is a query of one of the lists, and its arguments.
type List struct {
	SQL  string
	Args []any
}

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

// eq adds col = v unless v is empty (picks every value).
func (w *where) eq(col, v string) {
	if v != "" {
		w.add(col+" = ?", v)
	}
}

// after adds the cursor of a newest-first list ordered by (tcol, kcol):
// records strictly older, or as old with a smaller key.
func (w *where) after(tcol, kcol string, t time.Time, key string) {
	w.add("("+tcol+" < ? OR ("+tcol+" = ? AND "+kcol+" < ?))", Micros(t), Micros(t), key)
}

// window adds from <= col < to, each bound only when not zero.
func (w *where) window(col string, from, to time.Time) {
	if !from.IsZero() {
		w.add(col+" >= ?", Micros(from))
	}
	if !to.IsZero() {
		w.add(col+" < ?", Micros(to))
	}
}

// list is the query of columns from table that w picks, newest first by
// (tcol, kcol), at most limit rows when limit is positive.
func (w *where) list(columns, table, tcol, kcol string, limit int) List {
	var b strings.Builder
	b.WriteString("SELECT " + columns + " FROM " + table)
	if len(w.conds) > 0 {
		b.WriteString(" WHERE " + strings.Join(w.conds, " AND "))
	}
	b.WriteString(" ORDER BY " + tcol + " DESC, " + kcol + " DESC")
	if limit > 0 {
		b.WriteString(" LIMIT " + strconv.Itoa(limit))
	}
	return List{SQL: b.String(), Args: w.args}
}

// ListEnrollments is the query of Store.ListEnrollments, selecting
// EnrollmentColumns.
func ListEnrollments(f enroll.EnrollmentFilter) List {
	var w where
	w.eq("user_id", f.UserID)
	w.eq("phone", f.Phone)
	w.eq("state", stateName(f.State))
	w.eq("outcome", outcomeName(f.Outcome))
	w.window("created_at", f.CreatedFrom, f.CreatedTo)
	if f.AfterID != "" {
		w.after("created_at", "id", f.AfterCreated, f.AfterID)
	}
	return w.list(EnrollmentColumns, "enrollments", "created_at", "id", f.Limit)
}

// ListAuditEvents is the query of Store.ListAuditEvents, selecting
// AuditColumns.
func ListAuditEvents(f enroll.AuditFilter) List {
	var w where
	w.eq("action", f.Action)
	w.eq("outcome", outcomeName(f.Outcome))
	w.window("at", f.From, f.To)
	if f.AfterID != "" {
		w.after("at", "id", f.AfterAt, f.AfterID)
	}
	return w.list(AuditColumns, "audit_events", "at", "id", f.Limit)
}

// ListBlockedNumbers is the query of Store.ListBlockedNumbers, selecting
// BlockedNumberColumns.
func ListBlockedNumbers(f enroll.BlockedFilter) List {
	var w where
	if f.AfterPhone != "" {
		w.after("blocked_at", "phone", f.AfterAt, f.AfterPhone)
	}
	return w.list(BlockedNumberColumns, "blocked_numbers", "blocked_at", "phone", f.Limit)
}

// ListOperatorEvents is the query of Store.ListOperatorEvents, selecting
// OperatorEventColumns.
func ListOperatorEvents(f enroll.OperatorEventFilter) List {
	var w where
	w.eq("enrollment_id", f.EnrollmentID)
	w.eq("target", f.Target)
	if f.AfterID != "" {
		w.after("at", "id", f.AfterAt, f.AfterID)
	}
	return w.list(OperatorEventColumns, "operator_events", "at", "id", f.Limit)
}

// stateName and outcomeName are the stored names of a filter's state and
// outcome, empty for the unknown one (any).
func stateName(s enroll.State) string {
	if s == enroll.StateUnknown {
		return ""
	}
	return s.String()
}

func outcomeName(o enroll.Outcome) string {
	if o == enroll.OutcomeUnknown {
		return ""
	}
	return o.String()
}

// Lister gives a store the list methods of the operators' view
// (ListEnrollments, ListAuditEvents, ListBlockedNumbers,
// ListOperatorEvents), embedded, on the store's own query function.
type Lister struct {
	// Query runs q and gives its rows and how to close them.
	Query func(ctx context.Context, q List) (rows Rows, close func(), err error)
	// Err turns an error of the list what into the store's.
	Err func(ctx context.Context, err error, what string) error
}

// ListEnrollments implements enroll.Store.
func (l Lister) ListEnrollments(ctx context.Context, f enroll.EnrollmentFilter) ([]enroll.Enrollment, error) {
	return collectList(ctx, l, ListEnrollments(f), "list enrollments", ScanEnrollment)
}

// ListAuditEvents implements enroll.Store.
func (l Lister) ListAuditEvents(ctx context.Context, f enroll.AuditFilter) ([]enroll.AuditEvent, error) {
	return collectList(ctx, l, ListAuditEvents(f), "list audit events", ScanAudit)
}

// ListBlockedNumbers implements enroll.Store.
func (l Lister) ListBlockedNumbers(ctx context.Context, f enroll.BlockedFilter) ([]enroll.BlockedNumber, error) {
	return collectList(ctx, l, ListBlockedNumbers(f), "list blocked numbers", ScanBlockedNumber)
}

// ListOperatorEvents implements enroll.Store.
func (l Lister) ListOperatorEvents(ctx context.Context, f enroll.OperatorEventFilter) ([]enroll.OperatorEvent, error) {
	return collectList(ctx, l, ListOperatorEvents(f), "list operator events", ScanOperatorEvent)
}

func collectList[T any](ctx context.Context, l Lister, q List, what string, scan func(Scanner) (T, error)) ([]T, error) {
	rows, close, err := l.Query(ctx, q)
	if err != nil {
		return nil, l.Err(ctx, err, what)
	}
	defer close()
	out, err := Collect(rows, scan)
	if err != nil {
		return nil, l.Err(ctx, err, what)
	}
	return out, nil
}

// Dollar numbers the ? placeholders of query: $1, $2, … (the queries of
// this package have no ? of any other kind).
func Dollar(query string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// LiftBlock is Store.LiftBlock in tx: it deletes the block on phone and
// records ev, with the block's enrollment, returning the block; no block
// gives ErrNotFound.
func LiftBlock(tx Tx, phone string, ev enroll.OperatorEvent) (enroll.BlockedNumber, error) {
	b, err := ScanBlockedNumber(tx.QueryRow(`DELETE FROM blocked_numbers WHERE phone = ? RETURNING `+BlockedNumberColumns, phone))
	if tx.NoRows(err) {
		return b, enroll.ErrNotFound
	}
	if err != nil {
		return b, err
	}
	ev.EnrollmentID = b.EnrollmentID
	return b, AppendOperatorEvent(tx, ev)
}

// AppendOperatorEvent is Store.AppendOperatorEvent in tx.
func AppendOperatorEvent(tx Tx, ev enroll.OperatorEvent) error {
	args, err := OperatorEventArgs(&ev)
	if err != nil {
		return err
	}
	return tx.Exec(`INSERT INTO operator_events (`+OperatorEventColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, args...)
}

// OperatorEventColumns are the columns of an operator event, in the order
// of OperatorEventArgs and ScanOperatorEvent.
const OperatorEventColumns = `id, at, actor, action, target, reason, enrollment_id, request_id`

// OperatorEventArgs are ev's values in OperatorEventColumns order; an
// event without ID or action is refused.
func OperatorEventArgs(ev *enroll.OperatorEvent) ([]any, error) {
	if ev.ID == "" || ev.Action == "" {
		return nil, fmt.Errorf("operator event without ID or action")
	}
	return []any{ev.ID, Micros(ev.At), string(ev.Actor), ev.Action, ev.Target, ev.Reason, ev.EnrollmentID, ev.RequestID}, nil
}

// ScanOperatorEvent reads an operator event selected as
// OperatorEventColumns.
func ScanOperatorEvent(sc Scanner) (enroll.OperatorEvent, error) {
	var ev enroll.OperatorEvent
	var at int64
	var actor string
	err := sc.Scan(&ev.ID, &at, &actor, &ev.Action, &ev.Target, &ev.Reason, &ev.EnrollmentID, &ev.RequestID)
	ev.At, ev.Actor = Time(at), enroll.Actor(actor)
	return ev, err
}
