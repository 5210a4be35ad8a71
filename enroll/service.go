package enroll

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The Service's configuration and lifecycle: NewService, Recover, Close.
// Its work is split by role: service_enrollments.go (create, read,
// complete), service_calls.go (the call runner), service_subscribe.go
// (publish/subscribe and the poller) and service_credentials.go (what the
// front doors read: API keys, links, app passwords).

// Defaults of ServiceConfig.
const (
	DefaultTTL            = 15 * time.Minute
	DefaultCompleteWindow = 10 * time.Minute
	DefaultMaxAttempts    = 3
	DefaultCallTimeout    = 3 * time.Minute
	DefaultPollInterval   = time.Second
	DefaultSweepInterval  = time.Minute
	DefaultNodeLease      = 15 * time.Second
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
	// Limits bounds the calls placed and the failed app-password checks;
	// see Limits for its defaults.
	Limits Limits

	// PhonePolicy decides which numbers may be called: outbound calls
	// cost money, and toll fraud is the main cost risk of a service like
	// this. Create reads every number with NormalizePhone and refuses
	// what the policy does not allow; the front doors only translate the
	// error. The zero value allows Japanese fixed-line, mobile and VoIP
	// numbers.
	PhonePolicy PhonePolicy
	// DefaultCountry is the ISO 3166-1 region a number is read for when
	// the CreateRequest names none ("JP"; case does not matter). Empty
	// means "JP" (DefaultPhoneCountry).
	DefaultCountry string

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
	//
	// A named node holds a lease in the Store, renewed about every third
	// of NodeLease, and places calls only while it holds it; it ends, as
	// failed with cause CauseNodeLost, the calls of other nodes whose
	// lease lapsed (see service_nodes.go).
	Node string
	// NodeLease is how long a named node's lease lasts without renewal:
	// about how long after a node dies its calls in progress are ended by
	// another node. Zero means 15 seconds (DefaultNodeLease). Unused
	// without Node.
	NodeLease time.Duration

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
	// changes made by other nodes, when the Store is no Watcher; with a
	// Watcher, changes arrive as they are committed and subscriptions are
	// read again only every ten PollIntervals (for expiry).
	// Zero means a second (DefaultPollInterval).
	PollInterval time.Duration
	// SweepInterval is how often the Service fails the enrollments this
	// node left in calling with no call in progress here (see Sweep).
	// Zero means a minute (DefaultSweepInterval).
	SweepInterval time.Duration

	// Secrets are strings that must never be stored, logged or sent (the
	// SIP password, …): any occurrence in a call's cause text is replaced
	// with "[redacted]" before the cause reaches the store, the audit
	// trail or a webhook. Strings shorter than 4 bytes are ignored.
	Secrets []string
}

// Service is the enrollment service: it creates enrollments, places their
// verification calls, records every change (state, audit trail, webhook
// outbox) in the Store, and pushes changes to subscribers. It is safe for
// concurrent use, and several Services (nodes) may share one Store.
//
// Goroutines: one per call in progress, started by StartCall, one that
// polls the Store for subscriptions (and, when the Store is a Watcher, the
// watcher's own, service_subscribe.go), the keeper, which writes again
// the call ends the Store refused and sweeps (service_results.go), and
// for a named node the lease holder, which renews the node's lease and
// ends the calls of lost nodes (service_nodes.go). Close stops them.
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
	keepStop   chan struct{} // closed by Close once the calls ended: the keeper stops
	keepExited chan struct{} // closed by the keeper when it has stopped
	// leaseExited is closed by the lease holder when it has stopped (at
	// once without Node); it stops with the keeper, once the calls ended.
	leaseExited chan struct{}
	wake        chan struct{} // (capacity 1) the watcher saw a change: the poller reads
	reaped      atomic.Int64  // calls of lost nodes this node ended
	kick        chan struct{} // (capacity 1) a call's end joined pending

	dummyOnce sync.Once
	dummy     string       // see dummyHash
	hashes    atomic.Int64 // argon2id hashes computed by CheckAppPassword

	mu      sync.Mutex
	closed  bool
	calling map[string]bool // enrollment IDs with a call in progress here
	// pending holds the call ends the Store refused, by enrollment ID,
	// until written (their IDs stay in calling); writeErr is the last
	// refusal. keeperStopped: Close makes the last try.
	pending       map[string]*callEnd
	writeErr      error
	keeperStopped bool
	subs          map[string]map[*subscriber]struct{}
	// dirty holds the subscribed IDs the watcher said changed, all of
	// them when dirtyAll; the poller reads them again.
	dirty    map[string]bool
	dirtyAll bool
	lease    leaseState
}

// NewService checks cfg, fills in its defaults and returns a running
// Service, or an error wrapping ErrInvalidConfig. Call Recover once
// before serving (a named node takes its lease there, and places no call
// before), and Close at the end.
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
		{"SweepInterval", &cfg.SweepInterval, DefaultSweepInterval},
		{"NodeLease", &cfg.NodeLease, DefaultNodeLease},
	}
	for _, f := range durs {
		if *f.v < 0 {
			return nil, fmt.Errorf("%w: %s %v is negative", ErrInvalidConfig, f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.NodeLease < minNodeLease {
		return nil, fmt.Errorf("%w: NodeLease %v is shorter than %v", ErrInvalidConfig, cfg.NodeLease, minNodeLease)
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
	if err := cfg.PhonePolicy.Validate(); err != nil {
		return nil, err
	}
	cfg.PhonePolicy.AllowedRegions = slices.Clone(cfg.PhonePolicy.AllowedRegions)
	cfg.PhonePolicy.AllowTypes = slices.Clone(cfg.PhonePolicy.AllowTypes)
	region, perr := phoneRegion(cfg.DefaultCountry)
	if perr != nil {
		return nil, fmt.Errorf("%w: DefaultCountry %q is no region", ErrInvalidConfig, cfg.DefaultCountry)
	}
	cfg.DefaultCountry = region
	cfg.Secrets = slices.Clone(cfg.Secrets)
	s := &Service{
		cfg:         cfg,
		st:          cfg.Store,
		dialogue:    d,
		limits:      cfg.Limits.withDefaults(),
		log:         log,
		pollDone:    make(chan struct{}),
		pollExited:  make(chan struct{}),
		keepStop:    make(chan struct{}),
		keepExited:  make(chan struct{}),
		leaseExited: make(chan struct{}),
		wake:        make(chan struct{}, 1),
		dirty:       map[string]bool{},
		kick:        make(chan struct{}, 1),
		pending:     map[string]*callEnd{},
		calling:     map[string]bool{},
		subs:        map[string]map[*subscriber]struct{}{},
	}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	go s.poll()
	go s.keep()
	if cfg.Node != "" {
		go s.holdLease()
	} else {
		close(s.leaseExited)
	}
	return s, nil
}

// Config returns the configuration in use, defaults filled in (the
// front doors read DefaultCountry and MaxAttempts from it). Its slices
// (PhonePolicy's, Secrets) are the Service's own: do not modify them.
func (s *Service) Config() ServiceConfig { return s.cfg }

// Limits returns the call limits in use, defaults filled in.
func (s *Service) Limits() Limits { return s.limits }

func (s *Service) now() time.Time { return Now(s.cfg.Now()) }

func (s *Service) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Recover fails the calls this node's previous run left in calling (a
// crash, a kill): outcome failed, cause "interrupted by restart", audited
// and sent as webhooks. A named node first takes its lease, without which
// it places no call. cmd/denwa calls it once at start, before serving.
// It returns the enrollments it recovered.
func (s *Service) Recover(ctx context.Context) ([]Enrollment, error) {
	if s.cfg.Node != "" {
		if err := s.renewLease(ctx); err != nil {
			return nil, fmt.Errorf("enroll: recover calls: %w", err)
		}
	}
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

// Close stops the service: StartCall and Create refuse with ErrClosed
// from now on, and Close waits for the calls in progress to end and be
// recorded. When ctx ends first, it cancels them (each dialogue ends as
// failed, hangs up politely within its HangupTimeout and is recorded),
// waits for that, and returns ctx's error. The ends of calls the Store
// refused are tried once more; those it still refuses are logged as lost
// (the next start's Recover records them failed). Subscriptions are
// closed.
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
	s.mu.Lock()
	first = !s.keeperStopped
	s.keeperStopped = true
	s.mu.Unlock()
	if first {
		close(s.keepStop)
	}
	<-s.keepExited
	<-s.leaseExited
	s.flushEnds()
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
