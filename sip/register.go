package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	sipgo_sip "github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// Registration of the Dialer's contact with the PBX or trunk (RFC 3261
// §10), for a PBX that lets only registered extensions call out:
//
//	Dialer                                       registrar
//	  REGISTER sip:pbx  To: <sip:1001@pbx>  Expires: 3600 ─▶
//	  ◀─ 401 WWW-Authenticate: Digest realm=…, nonce=…
//	  REGISTER (CSeq+1) Authorization: Digest … ─────────▶
//	  ◀─ 200 OK  Contact: <sip:1001@192.0.2.7:5060>;expires=3600
//	  … half the granted time later, the same again (a refresh) …
//	  REGISTER  Expires: 0 (Close) ──────────────────────▶
//
// One goroutine per Dialer runs it: it registers at once, refreshes after
// half of the time the registrar granted, retries a failure after a
// capped exponential backoff with jitter (or the response's Retry-After,
// if longer), and removes the binding when the Dialer closes. Calls do not
// wait for it: a call placed while not registered goes out all the same
// and the PBX decides.

// Defaults for RegisterConfig.
const (
	DefaultRegisterExpiry   = time.Hour
	DefaultRegisterRetryMin = 5 * time.Second
	DefaultRegisterRetryMax = 5 * time.Minute
)

// unregisterWait bounds the REGISTER with Expires: 0 that Close sends.
const unregisterWait = 4 * time.Second

// ErrNotRegistered: Registration.Ready before the first REGISTER has
// succeeded, or once the binding has run out.
var ErrNotRegistered = errors.New("sip: not registered")

// RegisterConfig configures the registration of the Dialer's Contact
// (Config.Register). Zero values are documented per field.
type RegisterConfig struct {
	// Enabled turns registration on: NewDialer starts it and Close
	// removes the binding. The address of record (AOR) is the From URI's
	// user at its host (Config.From; by default denwa at the trunk's
	// host), the credentials those of the calls (AuthUser, Password).
	Enabled bool
	// Registrar is the Request-URI of the REGISTERs, e.g.
	// "sip:registrar.example.com". Zero: the trunk's host and port
	// (and transport parameter). The REGISTERs travel the calls' way:
	// Transport, OutboundProxy and TLS apply.
	Registrar string
	// Expiry is the binding's lifetime asked for (whole seconds, at least
	// 1 s). The registrar's answer wins: the expires of our Contact in
	// its 200, else its Expires header; a 423 raises it to the
	// registrar's Min-Expires. Zero: DefaultRegisterExpiry (1 h).
	Expiry time.Duration
	// RetryMin and RetryMax bound the wait before another try after a
	// failure: RetryMin after the first, doubling up to RetryMax, each
	// drawn at random between half and all of it. Zero: 5 s and 5 min.
	RetryMin, RetryMax time.Duration
}

// registerSetup is a validated RegisterConfig.
type registerSetup struct {
	registrar sipgo_sip.Uri
	explicit  bool // Registrar was given (else the trunk's)
	aor       sipgo_sip.Uri
	expiry    int // seconds
	retryMin  time.Duration
	retryMax  time.Duration
}

// setup validates c for a Dialer whose trunk and From are s's.
func (c RegisterConfig) setup(s *dialerSetup) (*registerSetup, error) {
	if !c.Enabled {
		return nil, nil
	}
	rs := &registerSetup{aor: sipgo_sip.Uri{Scheme: s.from.Scheme, User: s.from.User, Host: s.from.Host, Port: s.from.Port}}
	if c.Registrar != "" {
		rs.explicit = true
		if err := sipgo_sip.ParseUri(c.Registrar, &rs.registrar); err != nil || rs.registrar.Host == "" {
			return nil, fmt.Errorf("%w: Register.Registrar %q is not a SIP URI", ErrConfig, c.Registrar)
		}
	} else {
		rs.registrar = sipgo_sip.Uri{Scheme: s.trunk.Scheme, Host: s.trunk.Host, Port: s.trunk.Port}
		if tp, ok := s.trunk.UriParams.Get("transport"); ok {
			rs.registrar.UriParams = sipgo_sip.HeaderParams{{K: "transport", V: tp}}
		}
	}
	if rs.aor.User == "" {
		return nil, fmt.Errorf("%w: Register: the From URI %q has no user to register", ErrConfig, s.from.String())
	}
	if c.Expiry < 0 || c.RetryMin < 0 || c.RetryMax < 0 {
		return nil, fmt.Errorf("%w: Register: Expiry, RetryMin and RetryMax may not be negative", ErrConfig)
	}
	exp := orDefault(c.Expiry, DefaultRegisterExpiry)
	if exp < time.Second {
		return nil, fmt.Errorf("%w: Register.Expiry %v is under a second", ErrConfig, exp)
	}
	rs.expiry = int((exp + time.Second - 1) / time.Second)
	rs.retryMin = orDefault(c.RetryMin, DefaultRegisterRetryMin)
	rs.retryMax = max(orDefault(c.RetryMax, DefaultRegisterRetryMax), rs.retryMin)
	return rs, nil
}

// RegistrationState is a snapshot of a Registration.
type RegistrationState struct {
	// Registered: the registrar accepted the binding and it has not run
	// out (a failed refresh leaves it in place until Expires).
	Registered bool
	// Expires is when the binding runs out; zero before the first success.
	Expires time.Time
	// Err is the last attempt's failure, nil after a success. It names
	// the status, realm and user, never the password.
	Err error
	// Next is when the next REGISTER goes out (a refresh or a retry).
	Next time.Time
	// Attempts counts the registrations finished (refreshes included),
	// Failures those that failed.
	Attempts, Failures int64
}

// Registration keeps a Dialer's contact registered (see
// Dialer.Registration). Its methods are safe for concurrent use.
type Registration struct {
	d      *Dialer
	s      *registerSetup
	log    *slog.Logger
	now    func() time.Time
	callID string
	rand   *mrand.Rand // jitter; used by the loop goroutine only

	// ctx ends when close begins: the REGISTER in flight gives up, and
	// the loop removes the binding and ends (done).
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	cseq    uint32 // the last CSeq sent; one Call-ID for every REGISTER (§10.2)
	expiry  int    // seconds asked for; raised by a 423
	state   RegistrationState
	changed chan struct{} // closed and replaced on every change of state
}

func newRegistration(d *Dialer, s *registerSetup) *Registration {
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	r := &Registration{d: d, s: s, now: d.s.cfg.Now, callID: uuid.NewString(), expiry: s.expiry,
		rand: mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))),
		log:  d.log.With("aor", s.aor.String(), "registrar", s.registrar.String()),
		done: make(chan struct{}), changed: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// Registration returns the registration of the Dialer's contact, nil
// when Config.Register is not enabled.
func (d *Dialer) Registration() *Registration { return d.reg }

// State returns the registration's state now.
func (r *Registration) State() RegistrationState {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.state
	st.Registered = st.Expires.After(r.now())
	return st
}

// Ready returns nil while registered, else why not: the last failure, or
// ErrNotRegistered. Its text holds no secret (it is fit for /readyz).
func (r *Registration) Ready() error {
	st := r.State()
	switch {
	case st.Registered:
		return nil
	case st.Err != nil:
		return st.Err
	}
	return ErrNotRegistered
}

// Wait waits until cond holds for the state, checked after every change,
// or until ctx ends (then it returns ctx's error with the state).
func (r *Registration) Wait(ctx context.Context, cond func(RegistrationState) bool) (RegistrationState, error) {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		st := r.State()
		if cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return r.State(), ctx.Err()
		}
	}
}

// update changes the state under mu and wakes Wait.
func (r *Registration) update(f func(*RegistrationState)) {
	r.mu.Lock()
	f(&r.state)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// run is the registration's goroutine.
func (r *Registration) run() {
	defer close(r.done)
	failures := 0
	for {
		granted, err := r.register(r.ctx, r.d.s.cfg.InviteTimeout)
		if r.ctx.Err() != nil {
			r.unregister()
			return
		}
		now := r.now()
		var wait time.Duration
		if err == nil {
			failures = 0
			wait = granted / 2
			r.log.Info("registered", "expires", granted)
		} else {
			failures++
			wait = backoff(r.rand, r.s.retryMin, r.s.retryMax, failures)
			var re *RegisterError
			if errors.As(err, &re) && re.RetryAfter > wait {
				wait = re.RetryAfter
			}
			r.log.Warn("registration failed", "err", err, "retry_in", wait.Round(time.Millisecond))
		}
		r.update(func(st *RegistrationState) {
			st.Attempts++
			st.Err, st.Next = err, now.Add(wait)
			if err == nil {
				st.Expires = now.Add(granted)
			} else {
				st.Failures++
			}
		})
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			r.unregister()
			return
		}
	}
}

// backoff is the wait after the n-th failure in a row: lo doubled n-1
// times, at most hi, drawn between half and all of it.
func backoff(rng *mrand.Rand, lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + time.Duration(rng.Int64N(int64(d/2)+1))
}

// close stops the loop, which removes the binding if it may still be in
// place (bounded by unregisterWait), and waits for it.
func (r *Registration) close() {
	r.cancel()
	<-r.done
}

// unregister removes our binding (RFC 3261 §10.2.2: Expires: 0).
func (r *Registration) unregister() {
	if !r.State().Registered {
		return // never registered, or run out
	}
	r.mu.Lock()
	r.expiry = 0
	r.mu.Unlock()
	_, err := r.register(context.Background(), unregisterWait)
	if err != nil {
		r.log.Warn("un-registering failed", "err", err)
	} else {
		r.log.Info("un-registered")
	}
	r.update(func(st *RegistrationState) { st.Expires, st.Next, st.Err = time.Time{}, time.Time{}, err })
}

// RegisterError is a REGISTER the registrar refused, or that could not be
// sent or got no answer (Status 0).
type RegisterError struct {
	Status     int
	Reason     string
	RetryAfter time.Duration // the response's Retry-After; zero when absent
	Err        error         // ErrAuthFailed, ErrAuthRequired, ErrNoResponse, a transport error…
}

func (e *RegisterError) Error() string {
	var b strings.Builder
	b.WriteString("sip: register")
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d %s", e.Status, e.Reason)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *RegisterError) Unwrap() error { return e.Err }

// register sends one REGISTER with the current expiry, answering digest
// challenges (each realm once, again only for a stale nonce) and a 423
// (once), within timeout. It returns the time granted.
func (r *Registration) register(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r.mu.Lock()
	expiry := r.expiry
	r.mu.Unlock()
	req, err := r.newRequest(expiry)
	if err != nil {
		return 0, &RegisterError{Err: err}
	}
	answered := map[string]int{} // header and realm → times answered
	raised := false
	for {
		res, err := r.exchange(ctx, req)
		if err != nil {
			return 0, &RegisterError{Err: err}
		}
		fail := func(err error) (time.Duration, error) {
			e := &RegisterError{Status: res.StatusCode, Reason: truncate(res.Reason, 80), Err: err}
			if h := res.GetHeader("Retry-After"); h != nil {
				e.RetryAfter = parseRetryAfter(h.Value())
			}
			return 0, e
		}
		switch code := res.StatusCode; {
		case code >= 200 && code < 300:
			if expiry == 0 {
				return 0, nil
			}
			granted := r.granted(req, res, expiry)
			if granted <= 0 {
				return fail(fmt.Errorf("%w: the registrar granted no time to our Contact", ErrBadResponse))
			}
			return granted, nil
		case code == 401 || code == 407:
			if err := r.authorize(req, res, answered); err != nil {
				return fail(err)
			}
		case code == 423 && !raised && expiry > 0:
			// Interval Too Brief (§10.3 step 7): ask again for Min-Expires.
			h := res.GetHeader("Min-Expires")
			if h == nil {
				return fail(nil)
			}
			m, err := strconv.Atoi(strings.TrimSpace(h.Value()))
			if err != nil || m <= expiry || m > 7*24*3600 {
				return fail(fmt.Errorf("%w: Min-Expires %q", ErrBadResponse, truncate(h.Value(), 20)))
			}
			raised, expiry = true, m
			r.mu.Lock()
			r.expiry = m
			r.mu.Unlock()
			req.ReplaceHeader(sipgo_sip.NewHeader("Expires", strconv.Itoa(m)))
			r.log.Info("registrar asks for a longer expiry", "min_expires", m)
		default:
			return fail(nil)
		}
		req.CSeq().SeqNo = r.nextCSeq()
	}
}

// newRequest builds a REGISTER (RFC 3261 §10.2) for expiry seconds: the
// Dialer's out-of-dialog request (From, Contact with the local address
// that routes to the trunk, Route via the outbound proxy) with the AOR in
// To, the registration's one Call-ID and its next CSeq. It goes to the
// trunk's resolved address (or the proxy's) unless Registrar names
// another host, which sipgo then resolves.
func (r *Registration) newRequest(expiry int) (*sipMsg, error) {
	d := r.d
	dst, local, err := d.trunk.next()
	viaTrunk := d.s.proxy != nil || !r.s.explicit
	if err != nil && viaTrunk {
		return nil, err
	}
	req := d.newRequest(sipgo_sip.REGISTER, r.s.registrar, local)
	callID := sipgo_sip.CallIDHeader(r.callID)
	req.ReplaceHeader(&sipgo_sip.ToHeader{Address: r.s.aor, Params: sipgo_sip.NewParams()})
	req.ReplaceHeader(&callID)
	req.CSeq().SeqNo = r.nextCSeq()
	req.AppendHeader(sipgo_sip.NewHeader("Expires", strconv.Itoa(expiry)))
	req.SetBody(nil)
	if viaTrunk {
		d.route(req, dst)
	}
	return req, nil
}

func (r *Registration) nextCSeq() uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cseq++
	return r.cseq
}

// exchange sends req in a new transaction and returns its final response.
func (r *Registration) exchange(ctx context.Context, req *sipMsg) (*sipgo_sip.Response, error) {
	if r.d.s.transport == "tls" {
		if err := r.d.connectTLS(ctx, req); err != nil {
			return nil, err
		}
	}
	tx, err := r.d.send(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("sip: send REGISTER: %w", err)
	}
	defer tx.Terminate()
	res, err := finalResponse(ctx, tx, "REGISTER")
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("sip: REGISTER: %w in time", ErrNoResponse)
	}
	return res, err
}

// authorize adds to req the answer to res's digest challenge. A realm is
// answered once, and once more only when the registrar says the nonce
// was stale; a challenge beyond that means the credentials are wrong.
func (r *Registration) authorize(req *sipMsg, res *sipgo_sip.Response, answered map[string]int) error {
	s := r.d.s
	if s.cfg.Password == "" {
		return ErrAuthRequired
	}
	challengeHdr, answerHdr := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		challengeHdr, answerHdr = "Proxy-Authenticate", "Proxy-Authorization"
	}
	var values []string
	for _, h := range res.GetHeaders(challengeHdr) {
		values = append(values, h.Value())
	}
	ch, err := pickChallenge(values)
	if err != nil {
		return err
	}
	key := answerHdr + " " + ch.Realm
	if n := answered[key]; n >= 2 || n == 1 && !ch.Stale {
		return fmt.Errorf("%w for realm %q (user %q)", ErrAuthFailed, ch.Realm, s.authUser)
	}
	answered[key]++
	r.log.Debug("answering digest challenge", "status", res.StatusCode, "realm", ch.Realm, "algorithm", ch.Algorithm)
	v, err := Authorize(ch, Credentials{Username: s.authUser, Password: s.cfg.Password},
		DigestRequest{Method: string(sipgo_sip.REGISTER), URI: req.Recipient.String()})
	if err != nil {
		return err
	}
	req.RemoveHeader(answerHdr)
	req.AppendHeader(sipgo_sip.NewHeader(answerHdr, v))
	return nil
}

// granted is the binding's lifetime in a 2xx (§10.2.4): the expires
// parameter of the Contact that is ours, else the Expires header, else
// the expires of the only Contact listed (a registrar behind which NAT
// rewrote ours), else what we asked for.
func (r *Registration) granted(req *sipMsg, res *sipgo_sip.Response, asked int) time.Duration {
	seconds := func(v string) (time.Duration, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		return time.Duration(n) * time.Second, err == nil && n >= 0
	}
	mine := req.Contact()
	var listed []*sipgo_sip.ContactHeader
	for _, h := range res.GetHeaders("Contact") {
		if c, ok := h.(*sipgo_sip.ContactHeader); ok {
			listed = append(listed, c)
		}
	}
	for _, c := range listed {
		if v, ok := c.Params.Get("expires"); ok && mine != nil && sameContact(c.Address, mine.Address) {
			if d, ok := seconds(v); ok {
				return d
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if d, ok := seconds(h.Value()); ok {
			return d
		}
	}
	if len(listed) == 1 {
		if v, ok := listed[0].Params.Get("expires"); ok {
			if d, ok := seconds(v); ok {
				return d
			}
		}
	}
	return time.Duration(asked) * time.Second
}

// sameContact compares two Contact URIs by user, host and port (a
// registrar may add parameters, such as received or the transport).
func sameContact(a, b sipgo_sip.Uri) bool {
	port := func(u sipgo_sip.Uri) int {
		if u.Port == 0 {
			return 5060
		}
		return u.Port
	}
	return a.User == b.User && strings.EqualFold(a.Host, b.Host) && port(a) == port(b)
}
