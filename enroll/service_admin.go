package enroll

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The operators' view of a deployment: what the admin API, the console
// and `denwa admin` show and do. Admin validates every query (a bad
// filter, cursor or limit is ErrInvalidInput with a message fit for the
// operator), so the front doors only translate.

// Page sizes of the Admin lists.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Bounds of a Summary.
const (
	DefaultSummaryWindow = 24 * time.Hour
	MaxSummaryWindow     = 92 * 24 * time.Hour
	MinSummaryBucket     = time.Minute
	MaxSummaryBuckets    = 1000
	// MaxReasonLen bounds an operator's reason (OperatorEvent.Reason).
	MaxReasonLen = 512
)

// AdminConfig configures an Admin. Store is required.
type AdminConfig struct {
	Store Store
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// DefaultCountry is the region a number given without its country
	// code is read for ("JP"). Empty means "JP".
	DefaultCountry string
	// Logger receives one info record per change an operator makes. Nil
	// means no logging.
	Logger *slog.Logger
}

// Admin is what operators see and do: the enrollments and their audit
// trails, blocked numbers, fraud reports, app passwords, API keys,
// webhooks and a summary of the calls. It needs only the Store, so that
// `denwa admin --store` works on a deployment's database as the admin API
// does on a running service; Service.Admin returns one sharing the
// Service's store and clock. Every change (an unblock, a revocation, a
// key made, a webhook redelivered) is recorded as an OperatorEvent naming
// the Origin's actor. Admin is safe for concurrent use.
type Admin struct {
	st     Store
	now    func() time.Time
	region string
	log    *slog.Logger
}

// NewAdmin checks cfg and returns an Admin, or an error wrapping
// ErrInvalidConfig.
func NewAdmin(cfg AdminConfig) (*Admin, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: Store is required", ErrInvalidConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	region, perr := phoneRegion(cfg.DefaultCountry)
	if perr != nil {
		return nil, fmt.Errorf("%w: DefaultCountry %q is no region", ErrInvalidConfig, cfg.DefaultCountry)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Admin{st: cfg.Store, now: cfg.Now, region: region, log: log}, nil
}

// Admin returns the operators' view of the Service's store, with its clock,
// default country and logger.
func (s *Service) Admin() *Admin {
	return &Admin{st: s.st, now: s.cfg.Now, region: s.cfg.DefaultCountry, log: s.log}
}

func (a *Admin) clock() time.Time { return Now(a.now()) }

// Cursors are opaque to the caller: the time and key of the last record
// of a page, as "<unix microseconds>.<key>" in base64url.

func encodeCursor(t time.Time, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + "." + key))
}

func decodeCursor(c string) (time.Time, string, error) {
	bad := fmt.Errorf("%w: cursor %.40q is not one this list gave (pass next_cursor back as it came)", ErrInvalidInput, c)
	if len(c) > 512 {
		return time.Time{}, "", bad
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", bad
	}
	us, key, ok := strings.Cut(string(b), ".")
	n, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || key == "" {
		return time.Time{}, "", bad
	}
	return time.UnixMicro(n).UTC(), key, nil
}

// pageLimit validates a page size: 0 means DefaultPageSize.
func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 0 || n > MaxPageSize:
		return 0, fmt.Errorf("%w: limit %d: want 1 to %d", ErrInvalidInput, n, MaxPageSize)
	}
	return n, nil
}

// cut returns the first limit items and, when more follow, the cursor
// after the last one kept (key gives its time and key).
func cut[T any](items []T, limit int, key func(T) (time.Time, string)) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, encodeCursor(key(items[limit-1]))
}

func auditKey(ev AuditEvent) (time.Time, string) { return ev.At, ev.ID }

// Page asks for one page of a list.
type Page struct {
	// Cursor is the Next of the previous page; empty for the first.
	Cursor string
	// Limit is the most records the page holds: 1 to MaxPageSize, 0 for
	// DefaultPageSize.
	Limit int
}

// check validates p and returns its limit and decoded cursor.
func (p Page) check() (limit int, at time.Time, key string, err error) {
	if limit, err = pageLimit(p.Limit); err != nil {
		return 0, time.Time{}, "", err
	}
	if p.Cursor != "" {
		at, key, err = decodeCursor(p.Cursor)
	}
	return limit, at, key, err
}

// phone reads a number an operator typed: anything NormalizePhone reads
// for the default country, or a number in E.164 form as stored (which a
// newer numbering plan may no longer call valid). No policy applies: an
// operator may look up any number.
func (a *Admin) phone(input string) (string, error) {
	if n, err := NormalizePhone(input, a.region); err == nil {
		return n.E164, nil
	}
	if IsE164(input) {
		return input, nil
	}
	return "", fmt.Errorf("%w: phone %.40q is no number (want E.164, as +81312345678)", ErrInvalidInput, input)
}

// EnrollmentQuery picks enrollments for Admin.Enrollments. Each empty
// field picks every enrollment.
type EnrollmentQuery struct {
	UserID string
	// Phone is read as Admin reads every number: E.164, or national for
	// the default country ("03-1234-5678").
	Phone string
	// State and Outcome are names, as State.String and Outcome.String
	// give them ("failed", "fraud-reported").
	State, Outcome string
	// From and To bound CreatedAt: From <= CreatedAt < To.
	From, To time.Time
	Page
}

// EnrollmentPage is one page of enrollments, newest first; Next is the
// cursor of the next page, empty on the last.
type EnrollmentPage struct {
	Enrollments []Enrollment
	Next        string
}

// Enrollments lists the enrollments q picks, newest first. Errors:
// ErrInvalidInput, with what is wrong.
func (a *Admin) Enrollments(ctx context.Context, q EnrollmentQuery) (EnrollmentPage, error) {
	limit, at, key, err := q.check()
	if err != nil {
		return EnrollmentPage{}, err
	}
	f := EnrollmentFilter{UserID: q.UserID, CreatedFrom: q.From, CreatedTo: q.To, AfterCreated: at, AfterID: key, Limit: limit + 1}
	if len(q.UserID) > 256 {
		return EnrollmentPage{}, fmt.Errorf("%w: user longer than 256 bytes", ErrInvalidInput)
	}
	if q.Phone != "" {
		if f.Phone, err = a.phone(q.Phone); err != nil {
			return EnrollmentPage{}, err
		}
	}
	if q.State != "" {
		if f.State, err = ParseState(q.State); err != nil || f.State == StateUnknown {
			return EnrollmentPage{}, fmt.Errorf("%w: state %.40q: want one of %s", ErrInvalidInput, q.State, strings.Join(stateNames[1:], ", "))
		}
	}
	if q.Outcome != "" {
		if f.Outcome, err = ParseOutcome(q.Outcome); err != nil || f.Outcome == OutcomeUnknown {
			return EnrollmentPage{}, fmt.Errorf("%w: outcome %.40q: want one of %s", ErrInvalidInput, q.Outcome, strings.Join(outcomeNames[1:], ", "))
		}
	}
	if err := checkWindow(q.From, q.To); err != nil {
		return EnrollmentPage{}, err
	}
	es, err := a.st.ListEnrollments(ctx, f)
	if err != nil {
		return EnrollmentPage{}, fmt.Errorf("enroll: list enrollments: %w", err)
	}
	var p EnrollmentPage
	p.Enrollments, p.Next = cut(es, limit, func(e Enrollment) (time.Time, string) { return e.CreatedAt, e.ID })
	return p, nil
}

func checkWindow(from, to time.Time) error {
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return fmt.Errorf("%w: the window's start %s is not before its end %s", ErrInvalidInput,
			from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	return nil
}

// EnrollmentDetail is one enrollment with everything known about it.
type EnrollmentDetail struct {
	Enrollment Enrollment
	// Audit is its audit trail, oldest first: every state, each call with
	// its node, the keys heard and their source, its outcome and cause.
	Audit []AuditEvent
	// Operator lists what operators did about it (an unblock of its
	// number), oldest first.
	Operator []OperatorEvent
	// Block is the block on its number now, if any (its own fraud report's
	// or another's).
	Block *BlockedNumber
}

// Enrollment returns the enrollment id as stored, with its audit trail
// and what operators did about it. Errors: ErrNotFound.
func (a *Admin) Enrollment(ctx context.Context, id string) (EnrollmentDetail, error) {
	e, err := a.st.GetEnrollment(ctx, id)
	if err != nil {
		return EnrollmentDetail{}, fmt.Errorf("enroll: enrollment %s: %w", id, err)
	}
	d := EnrollmentDetail{Enrollment: e}
	if d.Audit, err = a.st.ListAudit(ctx, id); err != nil {
		return EnrollmentDetail{}, fmt.Errorf("enroll: audit %s: %w", id, err)
	}
	if d.Operator, err = a.st.ListOperatorEvents(ctx, OperatorEventFilter{EnrollmentID: id}); err != nil {
		return EnrollmentDetail{}, fmt.Errorf("enroll: operator events of %s: %w", id, err)
	}
	slices.Reverse(d.Operator)
	switch b, err := a.st.BlockedNumber(ctx, e.Phone); {
	case err == nil:
		d.Block = &b
	case !errors.Is(err, ErrNotFound):
		return EnrollmentDetail{}, fmt.Errorf("enroll: blocked numbers: %w", err)
	}
	return d, nil
}

// BlockedPage is one page of blocked numbers, newest first.
type BlockedPage struct {
	Blocked []BlockedNumber
	Next    string
}

// BlockedNumbers lists the blocked numbers, newest block first. Errors:
// ErrInvalidInput.
func (a *Admin) BlockedNumbers(ctx context.Context, p Page) (BlockedPage, error) {
	limit, at, key, err := p.check()
	if err != nil {
		return BlockedPage{}, err
	}
	bs, err := a.st.ListBlockedNumbers(ctx, BlockedFilter{AfterAt: at, AfterPhone: key, Limit: limit + 1})
	if err != nil {
		return BlockedPage{}, fmt.Errorf("enroll: list blocked numbers: %w", err)
	}
	var out BlockedPage
	out.Blocked, out.Next = cut(bs, limit, func(b BlockedNumber) (time.Time, string) { return b.At, b.Phone })
	return out, nil
}

// check validates what every operator's change needs: a valid actor, a
// reason of at most MaxReasonLen bytes.
func (o Origin) checkOperator(reason string) error {
	if err := o.check(); err != nil {
		return err
	}
	if len(reason) > MaxReasonLen {
		return fmt.Errorf("%w: reason longer than %d bytes", ErrInvalidInput, MaxReasonLen)
	}
	return nil
}

func (a *Admin) event(o Origin, action, target, reason string) OperatorEvent {
	return OperatorEvent{ID: NewID(), At: a.clock(), Actor: o.Actor, Action: action, Target: target,
		Reason: reason, RequestID: o.RequestID}
}

// Unblock lifts the block on a number (read as Admin reads numbers), so
// that new enrollments may call it, and records an OperatorEvent (action
// OpUnblock, with the reason, which may be empty) in the same
// transaction. It returns the block lifted. Errors: ErrInvalidInput;
// ErrNotFound (the number is not blocked).
func (a *Admin) Unblock(ctx context.Context, phone, reason string, o Origin) (BlockedNumber, error) {
	b, _, err := a.UnblockRecorded(ctx, phone, reason, o)
	return b, err
}

// UnblockRecorded is Unblock, returning also the OperatorEvent recorded.
func (a *Admin) UnblockRecorded(ctx context.Context, phone, reason string, o Origin) (BlockedNumber, OperatorEvent, error) {
	if err := o.checkOperator(reason); err != nil {
		return BlockedNumber{}, OperatorEvent{}, err
	}
	n, err := a.phone(phone)
	if err != nil {
		return BlockedNumber{}, OperatorEvent{}, err
	}
	ev := a.event(o, OpUnblock, n, reason)
	b, err := a.st.LiftBlock(ctx, n, ev)
	if err != nil {
		return BlockedNumber{}, OperatorEvent{}, fmt.Errorf("enroll: unblock: %w", err)
	}
	ev.EnrollmentID = b.EnrollmentID
	a.log.Info("enroll: number unblocked", "enrollment", b.EnrollmentID, "actor", string(o.Actor), "request", o.RequestID)
	return b, ev, nil
}

// FraudReport is a call whose person pressed 0#: this phone never asked
// for the verification.
type FraudReport struct {
	At         time.Time // when the call ended
	Enrollment Enrollment
	KeySource  string
	Keys       string
	// Blocked: the number is still blocked (not unblocked since).
	Blocked bool
}

// FraudQuery picks fraud reports: From <= At < To (zero: no bound).
type FraudQuery struct {
	From, To time.Time
	Page
}

// FraudPage is one page of fraud reports, newest first.
type FraudPage struct {
	Reports []FraudReport
	Next    string
}

// FraudReports lists the fraud reports (calls that ended fraud-reported),
// newest first, each with its enrollment as it now is. Errors:
// ErrInvalidInput.
func (a *Admin) FraudReports(ctx context.Context, q FraudQuery) (FraudPage, error) {
	limit, at, key, err := q.check()
	if err != nil {
		return FraudPage{}, err
	}
	if err := checkWindow(q.From, q.To); err != nil {
		return FraudPage{}, err
	}
	evs, err := a.st.ListAuditEvents(ctx, AuditFilter{Action: ActionCallEnd, Outcome: OutcomeFraudReported,
		From: q.From, To: q.To, AfterAt: at, AfterID: key, Limit: limit + 1})
	if err != nil {
		return FraudPage{}, fmt.Errorf("enroll: fraud reports: %w", err)
	}
	var p FraudPage
	evs, p.Next = cut(evs, limit, auditKey)
	blocked := map[string]bool{}
	for _, ev := range evs {
		e, err := a.st.GetEnrollment(ctx, ev.EnrollmentID)
		if err != nil {
			return FraudPage{}, fmt.Errorf("enroll: fraud report %s: %w", ev.EnrollmentID, err)
		}
		b, seen := blocked[e.Phone]
		if !seen {
			_, err := a.st.BlockedNumber(ctx, e.Phone)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return FraudPage{}, fmt.Errorf("enroll: blocked numbers: %w", err)
			}
			b = err == nil
			blocked[e.Phone] = b
		}
		p.Reports = append(p.Reports, FraudReport{At: ev.At, Enrollment: e, KeySource: ev.KeySource, Keys: ev.Keys, Blocked: b})
	}
	return p, nil
}

// OperatorEventPage is one page of operator events, newest first.
type OperatorEventPage struct {
	Events []OperatorEvent
	Next   string
}

// OperatorEvents lists what operators did, newest first; target, when not
// empty, picks the events about one target (a number, a key's name).
// Errors: ErrInvalidInput.
func (a *Admin) OperatorEvents(ctx context.Context, target string, p Page) (OperatorEventPage, error) {
	limit, at, key, err := p.check()
	if err != nil {
		return OperatorEventPage{}, err
	}
	evs, err := a.st.ListOperatorEvents(ctx, OperatorEventFilter{Target: target, AfterAt: at, AfterID: key, Limit: limit + 1})
	if err != nil {
		return OperatorEventPage{}, fmt.Errorf("enroll: operator events: %w", err)
	}
	var out OperatorEventPage
	out.Events, out.Next = cut(evs, limit, func(ev OperatorEvent) (time.Time, string) { return ev.At, ev.ID })
	return out, nil
}

// AppPasswords returns a user's app passwords, revoked ones included,
// oldest first, without their hashes (Hash is empty).
func (a *Admin) AppPasswords(ctx context.Context, user string) ([]AppPassword, error) {
	if user == "" || len(user) > 256 {
		return nil, fmt.Errorf("%w: user ID must be 1 to 256 bytes", ErrInvalidInput)
	}
	ps, err := a.st.ListAppPasswords(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("enroll: app passwords: %w", err)
	}
	for i := range ps {
		ps[i].Hash = ""
	}
	return ps, nil
}

// RevokeAppPassword revokes the user's app password id (revoking it again
// is no error) and records an OperatorEvent. Errors: ErrInvalidInput;
// ErrNotFound.
func (a *Admin) RevokeAppPassword(ctx context.Context, user, id, reason string, o Origin) error {
	if err := o.checkOperator(reason); err != nil {
		return err
	}
	if err := a.st.RevokeAppPassword(ctx, user, id, a.clock()); err != nil {
		return fmt.Errorf("enroll: revoke app password: %w", err)
	}
	return a.record(ctx, a.event(o, OpAppPasswordRevoke, user+"/"+id, reason))
}

// record appends ev after the change it records was made.
func (a *Admin) record(ctx context.Context, ev OperatorEvent) error {
	a.log.Info("enroll: operator change", "action", ev.Action, "actor", string(ev.Actor), "request", ev.RequestID)
	if err := a.st.AppendOperatorEvent(context.WithoutCancel(ctx), ev); err != nil {
		return fmt.Errorf("enroll: %s was done, but recording it failed: %w", ev.Action, err)
	}
	return nil
}

// APIKeys returns every API key, ordered by name, without their hashes.
func (a *Admin) APIKeys(ctx context.Context) ([]APIKey, error) {
	ks, err := a.st.ListAPIKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("enroll: API keys: %w", err)
	}
	for i := range ks {
		ks[i].Hash = ""
	}
	return ks, nil
}

// CreateAPIKey makes an API key called name (1 to 64 characters from
// A-Z a-z 0-9 . _ -; what the audit trail shows) with scopes, stores its
// hash and records an OperatorEvent. plain is the key, to be shown once
// and never kept; k is its record without the hash. Errors:
// ErrInvalidInput; ErrConflict (a key of that name exists).
func (a *Admin) CreateAPIKey(ctx context.Context, name string, scopes Scopes, o Origin) (plain string, k APIKey, err error) {
	if err := o.checkOperator(""); err != nil {
		return "", APIKey{}, err
	}
	if !ActorAPIKey(name).Valid() {
		return "", APIKey{}, fmt.Errorf("%w: API key name %.70q: want 1 to 64 characters from A-Z a-z 0-9 . _ -", ErrInvalidInput, name)
	}
	if scopes == 0 || scopes&^AllScopes != 0 {
		return "", APIKey{}, fmt.Errorf("%w: API key scopes: want admin, check or enroll", ErrInvalidInput)
	}
	plain, rec, err := NewAPIKey(name)
	if err != nil {
		return "", APIKey{}, err
	}
	k = APIKey{Name: rec.Name, Hash: rec.SecretHash, Scopes: scopes, CreatedAt: a.clock()}
	if err := a.st.CreateAPIKey(ctx, k); err != nil {
		return "", APIKey{}, fmt.Errorf("enroll: create API key %s: %w", name, err)
	}
	k.Hash = ""
	return plain, k, a.record(ctx, a.event(o, OpAPIKeyCreate, name, ""))
}

// RevokeAPIKey revokes the key called name: requests with it are refused
// from now on (revoking it again is no error). It records an
// OperatorEvent. Errors: ErrInvalidInput; ErrNotFound.
func (a *Admin) RevokeAPIKey(ctx context.Context, name, reason string, o Origin) error {
	if err := o.checkOperator(reason); err != nil {
		return err
	}
	if err := a.st.RevokeAPIKey(ctx, name, a.clock()); err != nil {
		return fmt.Errorf("enroll: revoke API key %s: %w", name, err)
	}
	return a.record(ctx, a.event(o, OpAPIKeyRevoke, name, reason))
}

// WebhookQuery picks webhook messages: State is "dead" (the default when
// empty), "pending" or "undelivered" (both). Delivered messages are not
// listed: there are as many as webhooks ever sent.
type WebhookQuery struct {
	State string
	Page
}

// WebhookPage is one page of webhook messages, oldest (lowest ID) first.
type WebhookPage struct {
	Messages []OutboxMessage
	Next     string
}

// Webhooks lists the webhook messages not delivered, oldest first. The
// undelivered messages are few (the backlog), so a page is cut from
// them all. Errors: ErrInvalidInput.
func (a *Admin) Webhooks(ctx context.Context, q WebhookQuery) (WebhookPage, error) {
	limit, _, key, err := q.check()
	if err != nil {
		return WebhookPage{}, err
	}
	var after int64
	if key != "" {
		if after, err = strconv.ParseInt(key, 10, 64); err != nil {
			return WebhookPage{}, fmt.Errorf("%w: cursor %.40q is not one this list gave", ErrInvalidInput, q.Cursor)
		}
	}
	var states []OutboxState
	switch q.State {
	case "", "dead":
		states = []OutboxState{OutboxDead}
	case "pending":
		states = []OutboxState{OutboxPending}
	case "undelivered":
		states = []OutboxState{OutboxPending, OutboxDead}
	default:
		return WebhookPage{}, fmt.Errorf("%w: webhook state %.40q: want dead, pending or undelivered", ErrInvalidInput, q.State)
	}
	var ms []OutboxMessage
	for _, st := range states {
		got, err := a.st.ListOutbox(ctx, st, 0)
		if err != nil {
			return WebhookPage{}, fmt.Errorf("enroll: webhooks: %w", err)
		}
		ms = append(ms, got...)
	}
	slices.SortFunc(ms, func(x, y OutboxMessage) int { return cmp.Compare(x.ID, y.ID) })
	i, _ := slices.BinarySearchFunc(ms, after+1, func(m OutboxMessage, id int64) int { return cmp.Compare(m.ID, id) })
	var p WebhookPage
	p.Messages, p.Next = cut(ms[i:], limit, func(m OutboxMessage) (time.Time, string) {
		return time.UnixMicro(0), strconv.FormatInt(m.ID, 10) // the ID alone orders them
	})
	return p, nil
}

// Redeliver sends the dead webhook message id again: back to pending, due
// now, its attempts reset (a running service sends it at its next poll,
// under the same Denwa-Delivery header). It records an OperatorEvent.
// Errors: ErrNotFound; ErrOutboxNotDead.
func (a *Admin) Redeliver(ctx context.Context, id int64, o Origin) error {
	if err := o.checkOperator(""); err != nil {
		return err
	}
	if err := a.st.RedeliverOutbox(ctx, id, a.clock()); err != nil {
		return fmt.Errorf("enroll: redeliver webhook %d: %w", id, err)
	}
	ev := a.event(o, OpWebhookRedeliver, strconv.FormatInt(id, 10), "")
	return a.record(ctx, ev)
}
