package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sipgo_sip "github.com/emiago/sipgo/sip"
)

// The trunk as the network sees it: the next hop's addresses (the
// OutboundProxy's when one is set, else the Trunk's), resolved by denwa
// itself at NewDialer and again every Config.TrunkRefresh, and, with
// Config.TrunkPing, whether it answers OPTIONS.
//
// Resolution follows what sipgo did before (RFC 3263 in part): an IP
// literal needs no DNS; a name is looked up as A/AAAA, and when that fails
// and the URI names no port, as SRV (_sip._udp, _sip._tcp, _sips._tcp).
// Addresses of the bind address's family come first. Over udp and tcp the
// INVITE (and the OPTIONS ping) is sent to the first resolved address;
// over tls sipgo resolves the name again when it dials, since the
// certificate is checked against the name, so denwa's resolution only
// gates the call there.
//
// While the name does not resolve, Dial fails at once (Unreachable,
// ErrTrunkDNS naming the host and what DNS said) and the name is tried
// again after 1 s, 2 s, 4 s … up to TrunkRefresh, and at once when a call
// is refused. A refresh that fails for another reason than "no such host"
// (a DNS timeout) keeps the last addresses: a flaky resolver does not fail
// calls to a trunk that has not moved; the failure is counted all the same.
//
// The OPTIONS ping is a health signal only: a trunk marked down still gets
// its calls. Carriers filter or rate-limit OPTIONS apart from INVITE, so a
// missed ping does not prove a call would fail, and an INVITE that finds
// nobody ends Unreachable after Config.InviteTimeout anyway. Down shows in
// Dialer.TrunkHealth, and so in serve's /readyz and its metrics.

// Resolver looks up the trunk's host name. *net.Resolver satisfies it;
// tests pass a fake (a name under .invalid must not wait on real DNS).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
}

// Defaults for the trunk's health checks.
const (
	DefaultTrunkRefresh      = 30 * time.Second
	DefaultTrunkPingFailures = 3
	// resolveTimeout bounds one resolution of the trunk's name.
	resolveTimeout = 5 * time.Second
	// firstRetry is the wait before the name is tried again after a failure;
	// it doubles up to TrunkRefresh.
	firstRetry = time.Second
	// maxRedirects bounds the 3xx hops one call follows.
	maxRedirects = 3
)

// TrunkHealth is what the Dialer knows of its trunk now.
type TrunkHealth struct {
	// Host is the next hop's host as configured (the OutboundProxy's when
	// one is set).
	Host string
	// Addrs are its resolved addresses, preferred first; empty while it
	// does not resolve.
	Addrs []netip.AddrPort
	// ResolveErr is the last resolution's error, nil when it succeeded;
	// with Addrs empty the trunk is unresolved and calls fail at once.
	ResolveErr error
	// ResolveFailures counts failed resolutions since NewDialer.
	ResolveFailures int64
	// Pinging is whether OPTIONS pings are on (Config.TrunkPing); Down is
	// whether the last TrunkPingFailures of them failed in a row, and
	// PingErr the last ping's error (nil after a success).
	Pinging bool
	Down    bool
	PingErr error
	// PingFailures counts failed pings since NewDialer.
	PingFailures int64
}

// Err is nil while the trunk is usable: resolved, and not down by the
// OPTIONS ping. Otherwise it says why, naming the host; serve's /readyz
// shows it.
func (h TrunkHealth) Err() error {
	switch {
	case len(h.Addrs) == 0 && h.ResolveErr != nil:
		return h.ResolveErr
	case len(h.Addrs) == 0:
		return fmt.Errorf("sip: trunk %s: not resolved yet", h.Host)
	case h.Down:
		return fmt.Errorf("sip: trunk %s is down: %w", h.Host, h.PingErr)
	}
	return nil
}

// trunk resolves the next hop and holds what it found. Its methods are
// safe for concurrent use; run and the ping loop are owned by the Dialer.
type trunk struct {
	host      string // lower case, without a trailing dot
	port      int    // as configured; 0: the transport's default, or SRV's
	transport string // udp, tcp, tls
	scheme    string // sip, sips
	literal   netip.Addr
	prefer4   bool // the bind address is IPv4: IPv4 addresses first
	route     bool // find the local address that routes to the trunk
	res       Resolver
	refresh   time.Duration
	log       *slog.Logger
	kick      chan struct{} // a refused call asks for a resolution now
	// onAddrs, when set, is told Addrs each time a resolution stores them
	// (under mu): the Dialer's guard allows them.
	onAddrs func([]netip.Addr)

	addrs    atomic.Pointer[[]netip.Addr] // Addrs, swapped whole
	failures atomic.Int64
	pingFail atomic.Int64

	mu      sync.Mutex
	dest    []netip.AddrPort
	local   netip.Addr // the address that routes to dest[0]; when route
	err     error      // the last resolution's
	retry   time.Duration
	down    bool
	pingErr error
	inARow  int // pings failed in a row
}

func newTrunk(s *dialerSetup) *trunk {
	hop := s.trunk
	if s.proxy != nil {
		hop = *s.proxy
	}
	t := &trunk{host: normHost(hop.Host), port: hop.Port, transport: s.transport, scheme: strings.ToLower(hop.Scheme),
		prefer4: s.bind.Addr().Is4(), route: s.bind.Addr().IsUnspecified() && s.cfg.Contact == "",
		res: s.cfg.Resolver, refresh: s.cfg.TrunkRefresh, log: s.cfg.Logger, kick: make(chan struct{}, 1)}
	t.literal, _ = netip.ParseAddr(bareHost(hop.Host))
	t.literal = t.literal.Unmap()
	if t.res == nil {
		t.res = net.DefaultResolver
	}
	return t
}

// normHost lower-cases a host name and drops a trailing dot.
func normHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// defaultPort is the port of a URI that names none (RFC 3261 §19.1.2).
func (t *trunk) defaultPort() uint16 {
	if t.port > 0 {
		return uint16(t.port)
	}
	if t.transport == "tls" {
		return 5061
	}
	return 5060
}

// Addrs returns the trunk's resolved IP addresses, preferred first, empty
// while it does not resolve. The slice is shared: do not modify it. It is
// what a source allow-list for out-of-dialog requests defaults to.
func (t *trunk) Addrs() []netip.Addr {
	if p := t.addrs.Load(); p != nil {
		return *p
	}
	return nil
}

// resolve looks the next hop up now and records the result.
func (t *trunk) resolve(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	dest, err := t.lookup(ctx)
	var local netip.Addr
	if err == nil && t.route {
		if local, err = routeTo(dest[0]); err != nil {
			err = fmt.Errorf("sip: trunk %s: no route to %s: %w", t.host, dest[0], err)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.failures.Add(1)
		t.err = err
		var de *net.DNSError
		if len(t.dest) == 0 || !errors.As(err, &de) || de.IsNotFound {
			t.dest, t.local = nil, netip.Addr{}
			t.setAddrs(nil)
		}
		t.retry = min(max(2*t.retry, firstRetry), t.refresh)
		return err
	}
	if !slices.Equal(dest, t.dest) {
		t.log.Info("trunk resolved", "trunk", t.host, "addrs", dest, "local", local)
	}
	t.dest, t.local, t.err, t.retry = dest, local, nil, 0
	ips := make([]netip.Addr, len(dest))
	for i, ap := range dest {
		ips[i] = ap.Addr()
	}
	t.setAddrs(ips)
	return nil
}

// setAddrs stores what Addrs returns and tells onAddrs. Under mu.
func (t *trunk) setAddrs(ips []netip.Addr) {
	if ips == nil {
		t.addrs.Store(nil)
	} else {
		t.addrs.Store(&ips)
	}
	if t.onAddrs != nil {
		t.onAddrs(ips)
	}
}

// lookup returns the next hop's addresses (see the comment at the top).
func (t *trunk) lookup(ctx context.Context) ([]netip.AddrPort, error) {
	if t.literal.IsValid() {
		return []netip.AddrPort{netip.AddrPortFrom(t.literal, t.defaultPort())}, nil
	}
	ips, err := t.res.LookupNetIP(ctx, "ip", t.host)
	if err == nil && len(ips) > 0 {
		return t.ports(ips, t.defaultPort()), nil
	}
	if err == nil {
		err = &net.DNSError{Err: "no addresses", Name: t.host, IsNotFound: true}
	}
	if t.port == 0 {
		if dest, srvErr := t.lookupSRV(ctx); srvErr == nil {
			return dest, nil
		}
	}
	return nil, &causeError{msg: fmt.Sprintf("sip: trunk %s: DNS lookup failed: %s", t.host, dnsReason(err)), sentinel: ErrTrunkDNS, err: err}
}

// lookupSRV resolves the SRV records of the next hop (RFC 3263 §4.4):
// the addresses of the first target that resolves, with its port.
func (t *trunk) lookupSRV(ctx context.Context) ([]netip.AddrPort, error) {
	service, proto := "sip", t.transport
	if t.transport == "tls" {
		service, proto = "sips", "tcp"
	}
	_, srvs, err := t.res.LookupSRV(ctx, service, proto, t.host)
	if err != nil {
		return nil, err
	}
	for _, srv := range srvs {
		ips, err := t.res.LookupNetIP(ctx, "ip", srv.Target)
		if err == nil && len(ips) > 0 {
			return t.ports(ips, srv.Port), nil
		}
	}
	return nil, fmt.Errorf("sip: no SRV target of %s resolves", t.host)
}

// ports pairs ips with port, the bind address's family first.
func (t *trunk) ports(ips []netip.Addr, port uint16) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.AddrPortFrom(ip.Unmap(), port))
	}
	slices.SortStableFunc(out, func(a, b netip.AddrPort) int {
		fa, fb := a.Addr().Is4() == t.prefer4, b.Addr().Is4() == t.prefer4
		switch {
		case fa && !fb:
			return -1
		case fb && !fa:
			return 1
		}
		return 0
	})
	return out
}

// dnsReason is what DNS said, without the "lookup NAME on SERVER:" that
// net.DNSError adds: "no such host", "i/o timeout".
func dnsReason(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) && de.Err != "" {
		return de.Err
	}
	return err.Error()
}

// next returns the address calls go to, and the local address that routes
// there (invalid unless the bind address is unspecified), or the error
// that keeps the trunk unresolved; in that case it asks run to try again
// now.
func (t *trunk) next() (netip.AddrPort, netip.Addr, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.dest) == 0 {
		select {
		case t.kick <- struct{}{}:
		default:
		}
		err := t.err
		if err == nil {
			err = fmt.Errorf("sip: trunk %s: not resolved yet", t.host)
		}
		return netip.AddrPort{}, netip.Addr{}, err
	}
	return t.dest[0], t.local, nil
}

// health returns what is known now.
func (t *trunk) health(pinging bool) TrunkHealth {
	t.mu.Lock()
	defer t.mu.Unlock()
	return TrunkHealth{Host: t.host, Addrs: slices.Clone(t.dest), ResolveErr: t.err, ResolveFailures: t.failures.Load(),
		Pinging: pinging, Down: t.down, PingErr: t.pingErr, PingFailures: t.pingFail.Load()}
}

// run resolves the name again every refresh (sooner after a failure, and
// at once when a call was refused) until ctx ends. An IP literal needs no
// run.
func (t *trunk) run(ctx context.Context) {
	wait := func() time.Duration {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.retry > 0 {
			return t.retry
		}
		return t.refresh
	}
	timer := time.NewTimer(wait())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
		case <-timer.C:
		}
		if err := t.resolve(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("trunk does not resolve", "err", err)
		}
		timer.Reset(wait())
	}
}

// pinged records one OPTIONS ping's result; after failures pings failed in
// a row the trunk is down, and one success brings it up.
func (t *trunk) pinged(err error, failures int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pingErr = err
	if err == nil {
		if t.down {
			t.log.Info("trunk is up again: it answers OPTIONS", "trunk", t.host)
		}
		t.down, t.inARow = false, 0
		return
	}
	t.pingFail.Add(1)
	t.inARow++
	if !t.down && t.inARow >= failures {
		t.down = true
		t.log.Warn("trunk is down: OPTIONS ping failed", "trunk", t.host, "in_a_row", t.inARow, "err", err)
	}
}

// pingLoop sends OPTIONS to the trunk every Config.TrunkPing until ctx
// ends. It runs in the endpoint's wait group.
func (d *Dialer) pingLoop(ctx context.Context) {
	every := d.s.cfg.TrunkPing
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		d.trunk.pinged(d.ping(ctx, every), d.s.cfg.TrunkPingFailures)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ping sends one OPTIONS to the trunk and waits up to timeout for its
// final response. Any final response but 503 means the trunk is there
// (RFC 3261 §11: a 404 or 405 still proves a SIP server answers).
func (d *Dialer) ping(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dst, local, err := d.trunk.next()
	if err != nil {
		return err
	}
	s := d.s
	req := d.newRequest(sipgo_sip.OPTIONS, sipgo_sip.Uri{Scheme: s.trunk.Scheme, Host: s.trunk.Host, Port: s.trunk.Port, UriParams: s.trunk.UriParams.Clone()}, local)
	req.AppendHeader(sipgo_sip.NewHeader("Accept", "application/sdp"))
	d.route(req, dst)
	tx, err := d.send(ctx, req)
	if err != nil {
		return fmt.Errorf("sip: OPTIONS to %s: %w", d.trunk.host, err)
	}
	defer tx.Terminate()
	res, err := finalResponse(ctx, tx, "OPTIONS to "+d.trunk.host)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("sip: OPTIONS to %s: %w in %v", d.trunk.host, ErrNoResponse, timeout)
	case err != nil:
		return err
	case res.StatusCode == 503:
		return fmt.Errorf("sip: OPTIONS to %s answered %d %s", d.trunk.host, res.StatusCode, truncate(res.Reason, 80))
	}
	return nil
}

// sameDomain reports whether a redirect target is in the trunk's domain:
// the same scheme and transport, and a host that is the trunk's host, a
// name under it ("pbx2.sip.example.com" under "sip.example.com"), or one
// of its resolved addresses; why says what differs.
func (d *Dialer) sameDomain(u sipgo_sip.Uri) (ok bool, why string) {
	s := d.s
	if !strings.EqualFold(u.Scheme, s.trunk.Scheme) {
		return false, "other scheme"
	}
	tp, has := u.UriParams.Get("transport")
	if !has {
		tp = "udp"
		if strings.EqualFold(u.Scheme, "sips") {
			tp = "tls"
		}
	}
	if !strings.EqualFold(tp, s.transport) {
		return false, "other transport"
	}
	host, trunkHost := normHost(u.Host), normHost(s.trunk.Host)
	if host == trunkHost || strings.HasSuffix(host, "."+trunkHost) {
		return true, ""
	}
	if a, err := netip.ParseAddr(bareHost(host)); err == nil && slices.Contains(d.trunk.Addrs(), a.Unmap()) {
		return true, ""
	}
	return false, "other domain"
}

// resolveTarget returns where a request for u goes: the trunk's address
// (with u's port) for the trunk's own host, u's IP literal, or u's name
// resolved (A/AAAA) with d's resolver.
func (d *Dialer) resolveTarget(ctx context.Context, u sipgo_sip.Uri) (netip.AddrPort, error) {
	port := uint16(u.Port)
	if port == 0 {
		port = 5060
		if d.s.transport == "tls" {
			port = 5061
		}
	}
	host := normHost(u.Host)
	if a, err := netip.ParseAddr(bareHost(host)); err == nil {
		return netip.AddrPortFrom(a.Unmap(), port), nil
	}
	if host == normHost(d.s.trunk.Host) && d.s.proxy == nil {
		dst, _, err := d.trunk.next()
		return netip.AddrPortFrom(dst.Addr(), port), err
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := d.trunk.res.LookupNetIP(ctx, "ip", host)
	if err == nil && len(ips) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	if err != nil {
		return netip.AddrPort{}, &causeError{msg: fmt.Sprintf("sip: %s: DNS lookup failed: %s", host, dnsReason(err)), sentinel: ErrTrunkDNS, err: err}
	}
	return d.trunk.ports(ips, port)[0], nil
}

// localAddr returns the local address that routes to the trunk, invalid
// while it does not resolve or when the bind address is specified.
func (t *trunk) localAddr() netip.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.local
}

// destFor returns where a request to u (its next hop) goes: the trunk's
// resolved address (with u's port) when u names the trunk's host, so that
// the ACK and BYE to a Contact or Record-Route that names it use denwa's
// resolution as the INVITE did; else u's host:port, resolved by sipgo.
func (d *Dialer) destFor(u *sipgo_sip.Uri) string {
	if d.s.transport != "tls" && !d.trunk.literal.IsValid() && normHost(u.Host) == d.trunk.host {
		if dst, _, err := d.trunk.next(); err == nil {
			port := uint16(u.Port)
			if port == 0 {
				port = 5060
			}
			return netip.AddrPortFrom(dst.Addr(), port).String()
		}
	}
	return hostPort(u)
}
