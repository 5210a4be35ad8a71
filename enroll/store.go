package enroll

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Store keeps everything the enrollment service knows; it is the one
// source of truth, shared by every node of a deployment. Package
// enroll/store/sqlite implements it for one node; a PostgreSQL store for
// several nodes implements the same contract, which package
// enroll/store/storetest checks.
//
// Every method is safe for concurrent use, from any number of goroutines
// and processes sharing the database. Records are values: a Store never
// keeps a caller's slice, and what it returns is the caller's. Times go
// in and come out as UTC with microsecond precision (see Now). A method
// that fails because ctx ended returns an error wrapping ctx.Err().
type Store interface {
	// CreateEnrollment stores e (whose Version must be 1) and its audit
	// events, in one transaction. An existing ID gives ErrConflict.
	CreateEnrollment(ctx context.Context, e Enrollment, audit []AuditEvent) error

	// GetEnrollment returns the enrollment with that ID, or ErrNotFound.
	GetEnrollment(ctx context.Context, id string) (Enrollment, error)

	// UpdateEnrollment is the compare-and-set every state change goes
	// through: it replaces the stored enrollment e.ID with e only if the
	// stored Version is still e.Version-1, and in the same transaction
	// appends the audit events and queues the outbox messages. A stored
	// version other than e.Version-1 (another writer, on this node or
	// another, got there first) gives ErrConflict and changes nothing; no
	// such enrollment gives ErrNotFound. This is what guarantees that of
	// two requests to start the same call at once exactly one wins.
	UpdateEnrollment(ctx context.Context, e Enrollment, audit []AuditEvent, outbox []OutboxMessage) error

	// RecoverCalling finds the enrollments in calling whose Node is node
	// (any node when node is empty) and, in one transaction, stores what
	// RecoveredCall(e, now) gives for each: failed with cause
	// CauseInterrupted, its audit event, its webhook. It returns the
	// recovered enrollments as stored. A node calls it at start, before
	// it places calls, for the calls its previous run left behind.
	RecoverCalling(ctx context.Context, node string, now time.Time) ([]Enrollment, error)

	// CallingEnrollments returns the enrollments in calling whose Node is
	// exactly node (node "" matches only calls placed by an unnamed node),
	// oldest first. The Service's sweep reads it to find calls its node no
	// longer holds; each is then ended by UpdateEnrollment, whose
	// compare-and-set leaves alone one that changed meanwhile.
	CallingEnrollments(ctx context.Context, node string) ([]Enrollment, error)

	// AppendAudit appends events that change no enrollment.
	AppendAudit(ctx context.Context, events ...AuditEvent) error

	// ListAudit returns the audit trail of one enrollment, oldest first
	// (in the order appended); empty, not ErrNotFound, when there is none.
	ListAudit(ctx context.Context, enrollmentID string) ([]AuditEvent, error)

	// CreateAppPassword stores p if its user has fewer than max active
	// (unrevoked) app passwords, counted in the same transaction, and
	// ErrLimit otherwise. An existing ID gives ErrConflict.
	CreateAppPassword(ctx context.Context, p AppPassword, max int) error

	// ListAppPasswords returns a user's app passwords, revoked ones
	// included, oldest first.
	ListAppPasswords(ctx context.Context, userID string) ([]AppPassword, error)

	// CountAppPasswords returns how many active app passwords a user has.
	CountAppPasswords(ctx context.Context, userID string) (int, error)

	// RevokeAppPassword marks the user's app password id revoked at the
	// given time; revoking it again keeps the first time. An unknown id, or
	// one of another user, gives ErrNotFound.
	RevokeAppPassword(ctx context.Context, userID, id string, at time.Time) error

	// TouchAppPassword records that the app password id was used at the
	// given time (ErrNotFound if there is none).
	TouchAppPassword(ctx context.Context, id string, at time.Time) error

	// CreateAPIKey stores k, its Scopes included (a key with no scope
	// is refused with ErrInvalidInput); an existing name or hash gives
	// ErrConflict.
	CreateAPIKey(ctx context.Context, k APIKey) error

	// APIKeyByHash returns the key with that hash, revoked or not, or
	// ErrNotFound.
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)

	// ListAPIKeys returns every API key, ordered by name.
	ListAPIKeys(ctx context.Context) ([]APIKey, error)

	// RevokeAPIKey marks the named key revoked (ErrNotFound if there is
	// none); revoking it again keeps the first time.
	RevokeAPIKey(ctx context.Context, name string, at time.Time) error

	// BlockNumber blocks an E.164 number. Blocking a blocked number keeps
	// the first record and is not an error.
	BlockNumber(ctx context.Context, b BlockedNumber) error

	// BlockedNumber returns the block on an E.164 number, or ErrNotFound.
	BlockedNumber(ctx context.Context, phone string) (BlockedNumber, error)

	// UnblockNumber lifts a block (ErrNotFound if there is none).
	UnblockNumber(ctx context.Context, phone string) error

	// AddCounter adds delta to the rate-limit counter of bucket in the
	// fixed window starting at window, creating it at zero, and returns
	// the new count, atomically: of n concurrent calls adding 1 to a
	// counter at c, each sees a different value from c+1 to c+n.
	AddCounter(ctx context.Context, bucket string, window time.Time, delta int64) (int64, error)

	// AddCounters applies the changes in order, in one transaction, and
	// returns the new counts. When a change with a positive Max takes its
	// count above Max, nothing is changed (the transaction rolls back) and
	// taken is false; counts then ends with that change's count, the
	// changes after it not tried. Of n concurrent calls each adding 1 to a
	// counter at c with Max m, exactly max(0, min(n, m-c)) are taken, so a
	// limit taken this way admits no more than Max however many race for
	// it.
	AddCounters(ctx context.Context, changes []CounterChange) (counts []int64, taken bool, err error)

	// PruneCounters deletes the counters of windows that started before
	// the given time.
	PruneCounters(ctx context.Context, before time.Time) error

	// EnqueueOutbox queues a message that belongs to no state change; it
	// returns the message's ID.
	EnqueueOutbox(ctx context.Context, m OutboxMessage) (int64, error)

	// ClaimOutbox returns up to limit undelivered messages whose
	// NextAttemptAt is at or before now, oldest first, and in the same
	// transaction moves their NextAttemptAt to now+lease, so that another
	// deliverer (on this node or another) does not take them meanwhile.
	// A deliverer that dies leaves them to be claimed again after the
	// lease: delivery is at least once.
	ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]OutboxMessage, error)

	// MarkOutboxDelivered records a delivery (ErrNotFound for an unknown ID).
	MarkOutboxDelivered(ctx context.Context, id int64, at time.Time) error

	// MarkOutboxFailed records a failed attempt: Attempts one more,
	// LastError set, next attempt at next (ErrNotFound for an unknown ID).
	MarkOutboxFailed(ctx context.Context, id int64, next time.Time, lastError string) error

	// MarkOutboxDead records a failed last attempt: Attempts one more,
	// LastError set, DeadAt at, NextAttemptAt zero. ClaimOutbox never
	// returns a dead message; RedeliverOutbox brings it back (ErrNotFound
	// for an unknown ID).
	MarkOutboxDead(ctx context.Context, id int64, at time.Time, lastError string) error

	// RedeliverOutbox moves the dead message id back to pending, due at
	// now: Attempts 0, DeadAt zero, LastError kept until the next attempt.
	// Its ID, and so its Denwa-Delivery header, stays the same. An unknown
	// ID gives ErrNotFound; a message that is not dead gives
	// ErrOutboxNotDead and changes nothing.
	RedeliverOutbox(ctx context.Context, id int64, now time.Time) error

	// ListOutbox returns up to limit messages (every one for a limit of
	// 0 or less) in the given state, every state for OutboxAny, oldest
	// (lowest ID) first.
	ListOutbox(ctx context.Context, state OutboxState, limit int) ([]OutboxMessage, error)

	// CountOutbox returns how many messages are pending and how many are
	// dead; it is cheap enough for every metrics scrape.
	CountOutbox(ctx context.Context) (pending, dead int64, err error)

	// UseToken records that the one-time link token tokenID was used at
	// the given time; a second use gives ErrTokenUsed, even from another
	// node at the same moment. expires is when the token stops being valid
	// anyway, after which the record may be pruned.
	UseToken(ctx context.Context, tokenID string, expires, at time.Time) error

	// TokenUsed reports whether UseToken recorded tokenID (and the
	// record was not pruned since).
	TokenUsed(ctx context.Context, tokenID string) (bool, error)

	// PruneTokens deletes the records of tokens that expired before the
	// given time.
	PruneTokens(ctx context.Context, before time.Time) error

	// RenewNodeLease records that node holds its lease until until,
	// creating the node's record on the first call; a later call replaces
	// until (even with an earlier time). An empty node name gives
	// ErrInvalidInput.
	RenewNodeLease(ctx context.Context, node string, until time.Time) error

	// LostNodes returns, by name, the nodes whose lease ended at or before
	// now and that still have enrollments in calling (a node whose lease
	// lapsed with no call in calling is not listed; nodes that never took a
	// lease are never listed).
	LostNodes(ctx context.Context, now time.Time) ([]string, error)

	// Ping checks that the store can be reached now (for /readyz): a round
	// trip to the database, bounded by ctx.
	Ping(ctx context.Context) error

	// The operators' view (see Admin). Each List method returns up to
	// f.Limit records (every one for 0 or less), newest first, ties
	// broken by the key named, descending; a cursor (f.After…) makes it
	// start strictly after that record in this order.

	// ListEnrollments returns the enrollments f picks, newest CreatedAt
	// first, then by ID.
	ListEnrollments(ctx context.Context, f EnrollmentFilter) ([]Enrollment, error)

	// ListAuditEvents returns the audit events of every enrollment that f
	// picks, newest At first, then by ID.
	ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)

	// ListBlockedNumbers returns the blocks, newest At first, then by
	// Phone.
	ListBlockedNumbers(ctx context.Context, f BlockedFilter) ([]BlockedNumber, error)

	// LiftBlock deletes the block on phone and, in the same transaction,
	// appends ev to the operator events with ev.EnrollmentID set to the
	// block's; it returns the block lifted. No block gives ErrNotFound and
	// records nothing.
	LiftBlock(ctx context.Context, phone string, ev OperatorEvent) (BlockedNumber, error)

	// AppendOperatorEvent records what an operator did.
	AppendOperatorEvent(ctx context.Context, ev OperatorEvent) error

	// ListOperatorEvents returns the operator events f picks, newest At
	// first, then by ID.
	ListOperatorEvents(ctx context.Context, f OperatorEventFilter) ([]OperatorEvent, error)
}

// Watcher is implemented by a Store that can tell, without polling, that
// enrollments changed on any node sharing it.
type Watcher interface {
	// WatchEnrollments calls changed with the ID of each enrollment whose
	// stored record a write from any node changed (CreateEnrollment,
	// UpdateEnrollment, RecoverCalling), from when it returns nil until ctx
	// ends, from one goroutine of its own; calls are not concurrent. When
	// changes may have been missed (the connection to the database was lost
	// and is back), it calls changed("") meaning "anything may have
	// changed". It keeps reconnecting until ctx ends. It returns an error
	// only when it cannot start listening at all.
	WatchEnrollments(ctx context.Context, changed func(id string)) error
}

// EnrollmentFilter picks enrollments for Store.ListEnrollments. Each zero
// field picks every enrollment.
type EnrollmentFilter struct {
	UserID  string
	Phone   string  // E.164
	State   State   // StateUnknown: any
	Outcome Outcome // OutcomeUnknown: any
	// CreatedFrom and CreatedTo bound CreatedAt: From <= CreatedAt < To.
	CreatedFrom, CreatedTo time.Time
	// AfterCreated and AfterID, when AfterID is set, are the cursor: the
	// last enrollment of the previous page.
	AfterCreated time.Time
	AfterID      string
	Limit        int
}

// AuditFilter picks audit events for Store.ListAuditEvents. Each zero
// field picks every event.
type AuditFilter struct {
	Action  string  // one of the Action constants
	Outcome Outcome // OutcomeUnknown: any
	// From and To bound At: From <= At < To.
	From, To time.Time
	// AfterAt and AfterID, when AfterID is set, are the cursor.
	AfterAt time.Time
	AfterID string
	Limit   int
}

// BlockedFilter pages Store.ListBlockedNumbers.
type BlockedFilter struct {
	// AfterAt and AfterPhone, when AfterPhone is set, are the cursor.
	AfterAt    time.Time
	AfterPhone string
	Limit      int
}

// OperatorEventFilter picks operator events for Store.ListOperatorEvents.
// Each zero field picks every event.
type OperatorEventFilter struct {
	EnrollmentID string
	Target       string
	// AfterAt and AfterID, when AfterID is set, are the cursor.
	AfterAt time.Time
	AfterID string
	Limit   int
}

// AppPassword is the stored record of an app password: never the password,
// only its argon2id hash in the PHC string form ("$argon2id$v=19$…").
type AppPassword struct {
	ID         string
	UserID     string
	Name       string // the user's label ("iPhone mail")
	Hash       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: active
}

// APIKey is the stored record of an API key a system uses: its name (what
// the audit trail shows, see ActorAPIKey), the hash of the key (never the
// key) and what it may do.
type APIKey struct {
	Name      string
	Hash      string
	Scopes    Scopes
	CreatedAt time.Time
	RevokedAt time.Time // zero: active
}

// CounterChange is one change of Store.AddCounters: Delta added to the
// rate-limit counter of Bucket in the fixed window starting at Window.
type CounterChange struct {
	Bucket string
	Window time.Time
	Delta  int64
	// Max, when positive, is the highest count the change may leave;
	// above it, AddCounters changes nothing. Zero or negative: no bound.
	Max int64
}

// BlockedNumber is a number no enrollment may call.
type BlockedNumber struct {
	Phone        string // E.164
	Reason       string // "fraud-reported", or the operator's text
	EnrollmentID string // the enrollment whose call reported it, if any
	At           time.Time
}

// OutboxMessage is a webhook waiting to be delivered at least once. The
// deliverer (the HTTP side) signs and posts Payload, then marks it.
type OutboxMessage struct {
	ID            int64 // assigned by the store; the Denwa-Delivery header
	Event         string
	EnrollmentID  string
	Payload       []byte // JSON, a WebhookPayload for the enrollment events
	CreatedAt     time.Time
	Attempts      int       // failed attempts since it was queued or redelivered
	NextAttemptAt time.Time // zero when dead
	DeliveredAt   time.Time // zero: not yet
	DeadAt        time.Time // when its last attempt failed; zero: not dead
	LastError     string    // the last failed attempt's status or error; no URL, no secret
}

// State is the message's state: delivered once DeliveredAt is set, else
// dead once DeadAt is set, else pending.
func (m OutboxMessage) State() OutboxState {
	switch {
	case !m.DeliveredAt.IsZero():
		return OutboxDelivered
	case !m.DeadAt.IsZero():
		return OutboxDead
	}
	return OutboxPending
}

// OutboxState is where an outbox message is in its life. The zero value,
// OutboxAny, is no state: Store.ListOutbox takes it for every state.
type OutboxState int

const (
	OutboxAny OutboxState = iota
	// OutboxPending: waiting for its next attempt (or being attempted).
	OutboxPending
	// OutboxDelivered: a 2xx answered it.
	OutboxDelivered
	// OutboxDead: its last attempt failed; only a redelivery sends it again.
	OutboxDead
)

var outboxStates = [...]string{OutboxAny: "all", OutboxPending: "pending", OutboxDelivered: "delivered", OutboxDead: "dead"}

// String returns "pending", "delivered", "dead", or "all" for OutboxAny.
func (s OutboxState) String() string {
	if s < 0 || int(s) >= len(outboxStates) {
		return "OutboxState(" + strconv.Itoa(int(s)) + ")"
	}
	return outboxStates[s]
}

// ParseOutboxState is the inverse of String.
func ParseOutboxState(s string) (OutboxState, error) {
	for i, name := range outboxStates {
		if s == name {
			return OutboxState(i), nil
		}
	}
	return 0, fmt.Errorf("%w: outbox state %q: want pending, delivered, dead or all", ErrInvalidInput, s)
}
