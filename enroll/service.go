package enroll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Dialer places a verification call. Dial calls the E.164 number and
// returns once the far end has answered, with the answered call as a Line;
// or, when there is no answered call, an error: one wrapping an
// *OutcomeError says how the call ended (no-answer, busy, rejected,
// unreachable, or failed with its cause), any other error counts as
// failed with that cause. Dial must honour ctx: when it is cancelled the
// call is given up (CANCEL) and Dial returns.
//
// The Service calls Dial from its own goroutine, one per call; cmd/denwa
// adapts sip's dialer to it. Package enrolltest has a scriptable fake.
type Dialer interface {
	Dial(ctx context.Context, e164 string) (Line, error)
}

// DialerFunc adapts a function to a Dialer.
type DialerFunc func(ctx context.Context, e164 string) (Line, error)

// Dial calls f.
func (f DialerFunc) Dial(ctx context.Context, e164 string) (Line, error) { return f(ctx, e164) }

// Defaults of ServiceConfig.
const (
	DefaultTTL            = 15 * time.Minute
	DefaultCompleteWindow = 10 * time.Minute
	DefaultMaxAttempts    = 3
	DefaultCallTimeout    = 3 * time.Minute
	DefaultPollInterval   = time.Second
)

// ServiceConfig configures a Service. Store and Dialer are required; every
// other zero value means the default named on the field.
type ServiceConfig struct {
	// Store keeps everything; the one source of truth. Required.
	Store Store
	// Dialer places the calls. Required.
	Dialer Dialer
	// Dialogue tunes the verification dialogue held on each answered call.
	Dialogue DialogueConfig
	// Limits bounds the calls placed; see Limits for its defaults.
	Limits Limits

	// Normalize, when set, turns the phone number of a CreateRequest, as
	// the user typed it, into E.164 for the request's Country, applying
	// the number policy (allowed countries, refused number types); its
	// error is returned from Create wrapped with ErrInvalidInput. Nil means
	// the request's Phone must already be E.164 ("+" and 7 to 15 digits,
	// the first not 0).
	Normalize func(input, country string) (e164 string, err error)

	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives one info record per call started and ended, and
	// warnings. Nil means no logging. Phone numbers and secrets are never
	// logged; enrollments are named by ID.
	Logger *slog.Logger

	// Node names this instance among the nodes sharing the Store: the
	// calls it places are marked with it, and Recover takes back only its
	// own. Each node of a several-node deployment needs a stable name of
	// its own; empty (one node) makes Recover take back every call left in
	// calling.
	Node string

	// TTL is how long a new enrollment has to be verified. Zero means 15
	// minutes (DefaultTTL).
	TTL time.Duration
	// CompleteWindow is how long a verified enrollment has to be completed
	// (its app password shown): ExpiresAt moves to the verification time
	// plus this. Zero means 10 minutes (DefaultCompleteWindow).
	CompleteWindow time.Duration
	// MaxAttempts is how many calls one enrollment may place. Zero means 3
	// (DefaultMaxAttempts).
	MaxAttempts int
	// CallTimeout bounds one call, from dialling to the end of the
	// dialogue (the dialogue's own hang-up is bounded separately by its
	// HangupTimeout). Zero means 3 minutes (DefaultCallTimeout). An
	// enrollment still in calling CallTimeout plus a minute after its last
	// change, and not called from this node, is taken as lost (its node
	// died) and failed like a call interrupted by a restart.
	CallTimeout time.Duration
	// PollInterval is how often subscriptions read the store, to see
	// changes made by other nodes. Zero means a second
	// (DefaultPollInterval).
	PollInterval time.Duration

	// Secrets are strings that must never be stored, logged or sent (the
	// SIP password, …): any occurrence in a call's cause text is replaced
	// with "[redacted]" before the cause reaches the store, the audit
	// trail or a webhook. Strings shorter than 4 bytes are ignored.
	Secrets []string
}

// CreateRequest asks for a new enrollment.
type CreateRequest struct {
	// UserID is the organisation's reference to the user: 1 to 256 bytes.
	UserID string
	// Phone is the number to call: E.164, or as typed when
	// ServiceConfig.Normalize is set.
	Phone string
	// Country is the region the number was typed for ("JP"), passed to
	// Normalize and kept on the enrollment.
	Country string
	// ClientIP is the user's address as the API saw it, for the per-IP
	// call limit; may be empty.
	ClientIP string
	Origin
}

// Origin tells who asks for a change, for the audit trail.
type Origin struct {
	// Actor must be valid (see Actor.Valid).
	Actor Actor
	// RequestID is the API request's ID, if any: at most 128 bytes.
	RequestID string
}

func (o Origin) check() error {
	if !o.Actor.Valid() {
		return fmt.Errorf("%w: actor %q", ErrInvalidInput, o.Actor)
	}
	if len(o.RequestID) > 128 {
		return fmt.Errorf("%w: request ID longer than 128 bytes", ErrInvalidInput)
	}
	return nil
}

// Service is the enrollment service: it creates enrollments, places their
// verification calls, records every change (state, audit trail, webhook
// outbox) in the Store, and pushes changes to subscribers. It is safe for
// concurrent use, and several Services (nodes) may share one Store.
//
// Goroutines: one per call in progress, started by StartCall, and one
// that polls the Store for subscriptions. Close stops them.
type Service struct {
	cfg      ServiceConfig
	st       Store
	dialogue *Dialogue
	limits   Limits
	log      *slog.Logger

	base       context.Context // parent of every call's context
	cancelBase context.CancelFunc
	calls      sync.WaitGroup
	pollDone   chan struct{} // closed by Close: the poller stops
	pollExited chan struct{} // closed by the poller when it has stopped

	mu      sync.Mutex
	closed  bool
	calling map[string]bool // enrollment IDs with a call in progress here
	subs    map[string]map[*subscriber]struct{}
}

// NewService checks cfg, fills in its defaults and returns a running
// Service, or an error wrapping ErrInvalidConfig. Call Recover once
// before serving, and Close at the end.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: Store is required", ErrInvalidConfig)
	}
	if cfg.Dialer == nil {
		return nil, fmt.Errorf("%w: Dialer is required", ErrInvalidConfig)
	}
	d, err := NewDialogue(cfg.Dialogue)
	if err != nil {
		return nil, err
	}
	cfg.Dialogue = d.Config()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	durs := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"TTL", &cfg.TTL, DefaultTTL},
		{"CompleteWindow", &cfg.CompleteWindow, DefaultCompleteWindow},
		{"CallTimeout", &cfg.CallTimeout, DefaultCallTimeout},
		{"PollInterval", &cfg.PollInterval, DefaultPollInterval},
	}
	for _, f := range durs {
		if *f.v < 0 {
			return nil, fmt.Errorf("%w: %s %v is negative", ErrInvalidConfig, f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.MaxAttempts < 0 {
		return nil, fmt.Errorf("%w: MaxAttempts %d is negative", ErrInvalidConfig, cfg.MaxAttempts)
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Secrets = append([]string(nil), cfg.Secrets...)
	s := &Service{
		cfg:        cfg,
		st:         cfg.Store,
		dialogue:   d,
		limits:     cfg.Limits.withDefaults(),
		log:        log,
		pollDone:   make(chan struct{}),
		pollExited: make(chan struct{}),
		calling:    map[string]bool{},
		subs:       map[string]map[*subscriber]struct{}{},
	}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	go s.poll()
	return s, nil
}

// Config returns the configuration in use, defaults filled in.
func (s *Service) Config() ServiceConfig { return s.cfg }

// Limits returns the call limits in use, defaults filled in.
func (s *Service) Limits() Limits { return s.limits }

func (s *Service) now() time.Time { return Now(s.cfg.Now()) }

// Recover fails the calls this node's previous run left in calling (a
// crash, a kill): outcome failed, cause "interrupted by restart", audited
// and sent as webhooks. cmd/denwa calls it once at start, before serving.
// It returns the enrollments it recovered.
func (s *Service) Recover(ctx context.Context) ([]Enrollment, error) {
	es, err := s.st.RecoverCalling(ctx, s.cfg.Node, s.now())
	if err != nil {
		return nil, fmt.Errorf("enroll: recover calls: %w", err)
	}
	for _, e := range es {
		s.log.Warn("enroll: call interrupted by restart", "enrollment", e.ID)
		s.publish(e)
	}
	return es, nil
}

// Create validates req and stores a new enrollment in pending, expiring
// after the TTL. Errors: ErrInvalidInput (a malformed field, or a number
// Normalize refused), ErrBlocked (the number is blocked), ErrClosed.
func (s *Service) Create(ctx context.Context, req CreateRequest) (Enrollment, error) {
	if err := req.check(); err != nil {
		return Enrollment{}, err
	}
	phone := req.Phone
	if s.cfg.Normalize != nil {
		p, err := s.cfg.Normalize(req.Phone, req.Country)
		if err != nil {
			return Enrollment{}, fmt.Errorf("%w: phone: %w", ErrInvalidInput, err)
		}
		phone = p
	}
	if !IsE164(phone) {
		return Enrollment{}, fmt.Errorf("%w: phone number is not E.164", ErrInvalidInput)
	}
	if s.isClosed() {
		return Enrollment{}, ErrClosed
	}
	if err := s.checkBlocked(ctx, phone); err != nil {
		return Enrollment{}, err
	}
	now := s.now()
	e := Enrollment{
		ID: NewID(), UserID: req.UserID, Phone: phone, Country: req.Country, ClientIP: req.ClientIP,
		State: StatePending, Version: 1,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(s.cfg.TTL),
	}
	ev := AuditEvent{
		ID: NewID(), EnrollmentID: e.ID, At: now, Actor: req.Actor, Action: ActionCreate,
		To: StatePending, RequestID: req.RequestID,
	}
	if err := s.st.CreateEnrollment(ctx, e, []AuditEvent{ev}); err != nil {
		return Enrollment{}, fmt.Errorf("enroll: create: %w", err)
	}
	return e, nil
}

func (r *CreateRequest) check() error {
	if r.UserID == "" || len(r.UserID) > 256 {
		return fmt.Errorf("%w: user ID must be 1 to 256 bytes", ErrInvalidInput)
	}
	if len(r.Country) > 8 || len(r.ClientIP) > 64 {
		return fmt.Errorf("%w: country or client IP too long", ErrInvalidInput)
	}
	return r.Origin.check()
}

// IsE164 reports whether s has the shape of an E.164 number: "+", then 7
// to 15 digits, the first not 0. It does not check that the number exists.
func IsE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, c := range []byte(s[1:]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (s *Service) checkBlocked(ctx context.Context, phone string) error {
	_, err := s.st.BlockedNumber(ctx, phone)
	switch {
	case err == nil:
		return ErrBlocked
	case errors.Is(err, ErrNotFound):
		return nil
	default:
		return fmt.Errorf("enroll: blocked numbers: %w", err)
	}
}

// Get returns the enrollment, first applying what time has decided:
// one past its ExpiresAt becomes expired, and one left in calling by a
// node that died becomes failed. Errors: ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (Enrollment, error) {
	e, err := s.st.GetEnrollment(ctx, id)
	if err != nil {
		return Enrollment{}, fmt.Errorf("enroll: get %s: %w", id, err)
	}
	return s.settle(ctx, e)
}

// settle stores the changes time has made to e (expiry, a call lost with
// its node) and returns the enrollment as it now is.
func (s *Service) settle(ctx context.Context, e Enrollment) (Enrollment, error) {
	for range 5 {
		now := s.now()
		var next Enrollment
		var ev AuditEvent
		var out []OutboxMessage
		switch {
		case e.Expired(now):
			next, ev = s.change(e, StateExpired, Origin{Actor: ActorSystem}, ActionExpire, now)
		case e.State == StateCalling && now.Sub(e.UpdatedAt) > s.cfg.CallTimeout+time.Minute && !s.callingHere(e.ID):
			var m OutboxMessage
			next, ev, m = RecoveredCall(e, now)
			out = []OutboxMessage{m}
		default:
			return e, nil
		}
		err := s.st.UpdateEnrollment(ctx, next, []AuditEvent{ev}, out)
		if err == nil {
			s.publish(next)
			return next, nil
		}
		if !errors.Is(err, ErrConflict) {
			return Enrollment{}, fmt.Errorf("enroll: update %s: %w", e.ID, err)
		}
		if e, err = s.st.GetEnrollment(ctx, e.ID); err != nil {
			return Enrollment{}, fmt.Errorf("enroll: get %s: %w", e.ID, err)
		}
	}
	return e, nil
}

// change returns e moved to state to (Version one more, UpdatedAt now)
// and the audit event of the change, which the caller completes.
func (s *Service) change(e Enrollment, to State, o Origin, action string, now time.Time) (Enrollment, AuditEvent) {
	next := e
	next.State = to
	next.Version++
	next.UpdatedAt = now
	ev := AuditEvent{
		ID: NewID(), EnrollmentID: e.ID, At: now, Actor: o.Actor, Action: action,
		From: e.State, To: to, RequestID: o.RequestID, Attempt: e.Attempts,
	}
	return next, ev
}

// Audit returns the enrollment's audit trail, oldest first. Errors:
// ErrNotFound.
func (s *Service) Audit(ctx context.Context, id string) ([]AuditEvent, error) {
	if _, err := s.st.GetEnrollment(ctx, id); err != nil {
		return nil, fmt.Errorf("enroll: audit %s: %w", id, err)
	}
	evs, err := s.st.ListAudit(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("enroll: audit %s: %w", id, err)
	}
	return evs, nil
}

// StartCall starts the verification call of a pending enrollment, or
// calls again after a failed call that may be retried (not a fraud
// report, fewer than MaxAttempts calls). It returns the enrollment in
// calling as soon as the call is placed in the background; subscribers
// and Get see how it ends.
//
// Of any number of StartCalls for the same enrollment at the same time,
// on any nodes, exactly one starts a call; the others get ErrConflict.
// Other errors: ErrNotFound; ErrExpired; ErrInvalidTransition (verified,
// completed, or failed and not retryable); ErrBlocked; a *LimitError
// (wrapping ErrLimit); ErrClosed; ErrInvalidInput for a bad Origin.
//
// The call runs on a goroutine the Service owns, with a context that is
// cancelled only by CallTimeout or by Close giving up waiting, never by
// ctx: the API request that started it may end at once.
func (s *Service) StartCall(ctx context.Context, id string, o Origin) (Enrollment, error) {
	if err := o.check(); err != nil {
		return Enrollment{}, err
	}
	e, err := s.Get(ctx, id)
	if err != nil {
		return Enrollment{}, err
	}
	switch {
	case e.State == StateExpired:
		return e, fmt.Errorf("enroll: start call %s: %w", id, ErrExpired)
	case e.State == StateCalling:
		return e, fmt.Errorf("enroll: start call %s: %w: a call is already in progress", id, ErrConflict)
	case e.State == StateFailed && !e.Retryable(s.cfg.MaxAttempts):
		return e, fmt.Errorf("enroll: start call %s: %w: no retry after %s and %d attempts",
			id, ErrInvalidTransition, e.Outcome, e.Attempts)
	}
	if err := CheckTransition(e.State, StateCalling); err != nil {
		return e, fmt.Errorf("enroll: start call %s: %w", id, err)
	}
	// Registering the call here first keeps Close from missing it, and
	// turns a second StartCall on this node away before it takes from
	// the limits; across nodes the compare-and-set below decides.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return e, ErrClosed
	}
	if s.calling[id] {
		s.mu.Unlock()
		return e, fmt.Errorf("enroll: start call %s: %w: a call is already in progress", id, ErrConflict)
	}
	s.calling[id] = true
	s.calls.Add(1)
	s.mu.Unlock()

	if err := s.checkBlocked(ctx, e.Phone); err != nil {
		s.endCall(id)
		return e, fmt.Errorf("enroll: start call %s: %w", id, err)
	}
	now := s.now()
	refund, err := s.limits.takeCall(ctx, s.st, &e, now)
	if err != nil {
		s.endCall(id)
		// A duplicate request on another node may have taken the last
		// count for the call it started: that is a conflict.
		if cur, gerr := s.st.GetEnrollment(ctx, id); gerr == nil && cur.Version != e.Version {
			return cur, fmt.Errorf("enroll: start call %s: %w: changed meanwhile (now %s)", id, ErrConflict, cur.State)
		}
		return e, fmt.Errorf("enroll: start call %s: %w", id, err)
	}

	next, ev := s.change(e, StateCalling, o, ActionCallStart, now)
	next.Attempts++
	next.Node = s.cfg.Node
	next.Outcome, next.Cause, next.KeySource = OutcomeUnknown, "", ""
	ev.Attempt = next.Attempts

	if err := s.st.UpdateEnrollment(ctx, next, []AuditEvent{ev}, nil); err != nil {
		s.endCall(id)
		refund(context.WithoutCancel(ctx))
		if errors.Is(err, ErrConflict) {
			return e, fmt.Errorf("enroll: start call %s: %w: another request started it first", id, ErrConflict)
		}
		return e, fmt.Errorf("enroll: start call %s: %w", id, err)
	}
	s.log.Info("enroll: call started", "enrollment", id, "attempt", next.Attempts, "actor", string(o.Actor), "request", o.RequestID)
	s.publish(next)
	go s.runCall(next)
	return next, nil
}

// endCall undoes the registration of a call StartCall made.
func (s *Service) endCall(id string) {
	s.forget(id)
	s.calls.Done()
}

// forget drops id from the calls in progress here. The call's goroutine
// does it as soon as the end is stored, before publishing it, so that a
// subscriber who sees the end may start the next call at once.
func (s *Service) forget(id string) {
	s.mu.Lock()
	delete(s.calling, id)
	s.mu.Unlock()
}

func (s *Service) callingHere(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calling[id]
}

func (s *Service) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// runCall places the call of e (in calling), holds the dialogue and
// records how it ended.
func (s *Service) runCall(e Enrollment) {
	defer s.calls.Done()
	ctx, cancel := context.WithTimeout(s.base, s.cfg.CallTimeout)
	defer cancel()
	var res Result
	line, err := s.cfg.Dialer.Dial(ctx, e.Phone)
	if err != nil {
		res = Result{Outcome: OutcomeFailed, Cause: err}
		var oe *OutcomeError
		if errors.As(err, &oe) && oe.Outcome.Valid() && oe.Outcome != OutcomeUnknown && oe.Outcome != OutcomeVerified {
			res.Outcome, res.Cause = oe.Outcome, oe.Cause
			if res.Outcome == OutcomeFailed && res.Cause == nil {
				res.Cause = err
			}
		}
	} else if line == nil {
		res = Result{Outcome: OutcomeFailed, Cause: errors.New("enroll: the dialer returned neither a line nor an error")}
	} else {
		res = s.dialogue.Run(ctx, line)
	}
	// Record the outcome even when shutting down: the call has ended.
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	if err := s.finishCall(rctx, e, res); err != nil {
		// On success finishCall forgot the call itself, before
		// publishing; by now a next call may be registered.
		s.forget(e.ID)
		s.log.Error("enroll: recording the call's end failed", "enrollment", e.ID, "outcome", res.Outcome.String(), "err", err)
	}
}

// finishCall stores the end of e's call: verified, or failed with the
// outcome; a fraud report also blocks the number.
func (s *Service) finishCall(ctx context.Context, e Enrollment, res Result) error {
	now := s.now()
	cause := ""
	if res.Cause != nil {
		cause = s.redact(res.Cause.Error())
	}
	var keySource, keys string
	if ks := res.Keys(); len(ks) > 0 {
		if res.Outcome == OutcomeVerified || res.Outcome == OutcomeFraudReported {
			keySource = ks[len(ks)-1].Source.String()
		}
		var b strings.Builder
		for _, k := range ks {
			if b.Len() >= maxAuditKeys {
				break
			}
			b.WriteString(k.Key.String())
		}
		keys = b.String()
	}
	if res.Outcome == OutcomeFraudReported {
		err := s.st.BlockNumber(ctx, BlockedNumber{Phone: e.Phone, Reason: OutcomeFraudReported.String(), EnrollmentID: e.ID, At: now})
		if err != nil {
			return fmt.Errorf("block number: %w", err)
		}
	}
	to := StateFailed
	if res.Outcome == OutcomeVerified {
		to = StateVerified
	}
	next, ev := s.change(e, to, Origin{Actor: ActorSystem}, ActionCallEnd, now)
	next.Outcome, next.Cause, next.KeySource = res.Outcome, cause, keySource
	ev.Outcome, ev.Cause, ev.KeySource, ev.Keys = res.Outcome, cause, keySource, keys
	evs := []AuditEvent{ev}
	event := EventFailed
	switch res.Outcome {
	case OutcomeVerified:
		next.VerifiedAt = now
		next.ExpiresAt = now.Add(s.cfg.CompleteWindow)
		event = EventVerified
	case OutcomeFraudReported:
		event = EventFraudReported
		blk := ev
		blk.ID, blk.Action, blk.From, blk.Cause = NewID(), ActionBlock, to, ""
		evs = append(evs, blk)
	}
	if err := s.st.UpdateEnrollment(ctx, next, evs, []OutboxMessage{webhookMessage(event, next, now)}); err != nil {
		return err
	}
	s.forget(e.ID)
	s.log.Info("enroll: call ended", "enrollment", e.ID, "outcome", res.Outcome.String(), "key_source", keySource)
	s.publish(next)
	return nil
}

// maxAuditKeys caps AuditEvent.Keys: the keys a call acted on, in order.
const maxAuditKeys = 32

// redact replaces the configured secrets in text.
func (s *Service) redact(text string) string {
	for _, sec := range s.cfg.Secrets {
		if len(sec) >= 4 {
			text = strings.ReplaceAll(text, sec, "[redacted]")
		}
	}
	return text
}

// Complete marks a verified enrollment completed, after its app password
// was shown. Errors: ErrNotFound; ErrExpired; ErrInvalidTransition (not
// verified); ErrConflict (changed meanwhile; read it again).
func (s *Service) Complete(ctx context.Context, id string, o Origin) (Enrollment, error) {
	if err := o.check(); err != nil {
		return Enrollment{}, err
	}
	e, err := s.Get(ctx, id)
	if err != nil {
		return Enrollment{}, err
	}
	if e.State == StateExpired {
		return e, fmt.Errorf("enroll: complete %s: %w", id, ErrExpired)
	}
	if err := CheckTransition(e.State, StateCompleted); err != nil {
		return e, fmt.Errorf("enroll: complete %s: %w", id, err)
	}
	now := s.now()
	next, ev := s.change(e, StateCompleted, o, ActionComplete, now)
	next.CompletedAt = now
	if err := s.st.UpdateEnrollment(ctx, next, []AuditEvent{ev}, nil); err != nil {
		return e, fmt.Errorf("enroll: complete %s: %w", id, err)
	}
	s.publish(next)
	return next, nil
}

// Close stops the service: StartCall and Create refuse with ErrClosed
// from now on, and Close waits for the calls in progress to end and be
// recorded. When ctx ends first, it cancels them (each dialogue ends as
// failed, hangs up politely within its HangupTimeout and is recorded),
// waits for that, and returns ctx's error. Subscriptions are closed.
// When Close returns, no goroutine of the Service is left and it no longer
// uses the Store, which the caller may then close (Close does not).
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	s.mu.Unlock()
	if first {
		close(s.pollDone)
	}
	done := make(chan struct{})
	go func() {
		s.calls.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = context.Cause(ctx)
		s.cancelBase()
		<-done
	}
	s.cancelBase()
	<-s.pollExited
	s.mu.Lock()
	for id, set := range s.subs {
		for sub := range set {
			close(sub.ch)
		}
		delete(s.subs, id)
	}
	s.mu.Unlock()
	return err
}

// subscriber is one Subscribe: the latest enrollment not yet read waits
// in ch (capacity 1); a newer one replaces it.
type subscriber struct {
	ch   chan Enrollment
	last int64 // Version last offered
}

// Subscribe returns a channel on which the enrollment is sent as it
// changes: first as it is now, then each time a newer version is seen.
// A slow reader misses intermediate versions, never the latest: the
// channel holds one value and a newer one replaces it.
//
// Changes made by this Service arrive at once; changes made by another
// node sharing the Store are seen by polling the Store every
// PollInterval (a second by default), so within about that. Polling also
// applies expiry (see Get).
//
// The channel is closed when cancel is called, ctx ends or the Service
// closes; cancel may be called more than once. Errors: ErrNotFound,
// ErrClosed.
func (s *Service) Subscribe(ctx context.Context, id string) (<-chan Enrollment, func(), error) {
	e, err := s.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	sub := &subscriber{ch: make(chan Enrollment, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, ErrClosed
	}
	set := s.subs[id]
	if set == nil {
		set = map[*subscriber]struct{}{}
		s.subs[id] = set
	}
	set[sub] = struct{}{}
	sub.offer(e)
	s.mu.Unlock()

	var once sync.Once
	remove := func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if set, ok := s.subs[id]; ok {
				if _, ok := set[sub]; ok {
					delete(set, sub)
					close(sub.ch)
					if len(set) == 0 {
						delete(s.subs, id)
					}
				}
			}
		})
	}
	stop := context.AfterFunc(ctx, remove)
	cancel := func() {
		stop()
		remove()
	}
	return sub.ch, cancel, nil
}

// offer hands e to the subscriber if it is newer than what it was last
// given. Called with Service.mu held, which makes it the only sender.
func (sub *subscriber) offer(e Enrollment) {
	if e.Version <= sub.last {
		return
	}
	sub.last = e.Version
	select {
	case sub.ch <- e:
	default:
		select {
		case <-sub.ch:
		default:
		}
		sub.ch <- e
	}
}

// publish offers e to its subscribers here.
func (s *Service) publish(e Enrollment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs[e.ID] {
		sub.offer(e)
	}
}

// counterKeep is how long rate-limit counters are kept after their
// window starts; the longest window is an hour.
const counterKeep = 2 * time.Hour

// poll reads the Store every PollInterval for the enrollments someone
// subscribed to here, so that changes made by other nodes (and expiry)
// reach them, and prunes old rate-limit counters now and then.
func (s *Service) poll() {
	defer close(s.pollExited)
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	var lastPrune time.Time
	for {
		select {
		case <-s.pollDone:
			return
		case <-t.C:
		}
		s.mu.Lock()
		ids := make([]string, 0, len(s.subs))
		for id := range s.subs {
			ids = append(ids, id)
		}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(s.base, s.cfg.PollInterval*5)
		for _, id := range ids {
			e, err := s.Get(ctx, id)
			if err != nil {
				s.log.Warn("enroll: subscription poll failed", "enrollment", id, "err", err)
				continue
			}
			s.publish(e)
		}
		if now := s.now(); now.Sub(lastPrune) > 10*time.Minute {
			lastPrune = now
			if err := s.st.PruneCounters(ctx, now.Add(-counterKeep)); err != nil {
				s.log.Warn("enroll: pruning rate-limit counters failed", "err", err)
			}
		}
		cancel()
	}
}
