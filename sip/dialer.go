package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipgo_sip "github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"denwa/media"
)

type sipMsg = sipgo_sip.Request

// Dialer places outbound calls through one trunk. Over udp and tcp it
// listens on its bind address for the requests the far end sends inside a
// call (BYE); over tls they come back on the connection the INVITE opened
// (see Config.TLS). Either way it must be closed. A Dialer is safe for
// concurrent use: Dial may be called from many goroutines.
type Dialer struct {
	*endpoint
	s       *dialerSetup
	contact sipgo_sip.ContactHeader
	// viaHost and viaPort are the sent-by of every Via; empty over tls
	// (see via).
	viaHost string
	viaPort int
	// hostUnset: the bind address is unspecified and the trunk did not
	// resolve at NewDialer, so Via, Contact and SDP take the local address
	// that routes to the trunk call by call, once it resolves (trunk.go).
	hostUnset bool
	// trunk resolves the next hop and holds its health; stopTrunk ends its
	// goroutines (refresh, ping).
	trunk     *trunk
	stopTrunk context.CancelFunc

	calls map[string]*Call // by Call-ID, guarded by mu; each call's watcher runs in wg
	// foreign counts the RTP datagrams every call's media dropped as not
	// from the far end (media.SessionConfig.Foreign).
	foreign atomic.Int64
	reg     *Registration // nil: Config.Register is off (register.go)
	// srtpAuthFailed counts the SRTP packets every call's media dropped
	// as failing authentication (media.SessionConfig.SRTPAuthFailed).
	srtpAuthFailed atomic.Int64
}

// NewDialer validates cfg, binds the SIP listener (none over tls) and
// starts serving it.
func NewDialer(cfg Config) (*Dialer, error) {
	s, err := cfg.setup()
	if err != nil {
		return nil, err
	}
	ec := endpointConfig{network: s.transport, bind: s.bind, clientTLS: s.tls, userAgent: s.cfg.UserAgent, fromHost: s.from.Host,
		rtpAddr: s.cfg.RTPAddr, rtpFirst: s.cfg.RTPPortFirst, rtpLast: s.cfg.RTPPortLast,
		log: s.cfg.Logger.With("component", "sip.Dialer"), guard: s.cfg.Guard, allow: s.trunkNetworks()}
	if s.cfg.Contact != "" {
		h, p, _ := net.SplitHostPort(s.cfg.Contact)
		ec.host = h
		ec.port, _ = strconv.Atoi(p)
	}
	t := newTrunk(s)
	if err := t.resolve(context.Background()); err != nil {
		// Not fatal: calls fail fast (Unreachable) until it resolves, and
		// TrunkHealth says so meanwhile.
		s.cfg.Logger.Warn("trunk does not resolve (yet); calls fail until it does", "err", err)
	}
	// Advertise the interface that routes to the trunk in Via/Contact.
	_, local, _ := t.next()
	if ec.host == "" && local.IsValid() {
		ec.host = local.String()
	}
	if s.bindFor(local) { // addressing.go
		ec.bind = s.bind
	}
	e, err := newEndpoint(ec)
	if err != nil {
		return nil, err
	}
	// The guard allows the trunk's addresses, and follows them from here
	// (nothing resolves again before t.run starts, below).
	allowTrunk(e.guard, ec.allow, t.Addrs())
	t.onAddrs = func(ips []netip.Addr) { allowTrunk(e.guard, ec.allow, ips) }
	d := &Dialer{endpoint: e, s: s, calls: map[string]*Call{}, viaHost: e.host, viaPort: e.port, trunk: t,
		hostUnset: t.route && !local.IsValid()}
	if s.transport == "tls" && s.cfg.Contact == "" {
		// The sent-by is the TLS connection's local address, which sipgo
		// puts in a Via that has none (see tls.go); Contact gets it per
		// call in connectTLS.
		d.viaHost, d.viaPort = "", 0
	}
	d.contact = e.contact(s.from.User, strings.EqualFold(s.trunk.Scheme, "sips"))
	d.guard.live = func(req *sipgo_sip.Request) bool { return d.match(req) != nil }
	d.handle(sipgo_sip.BYE, d.onBye)
	d.handle(sipgo_sip.ACK, d.onAck)           // reinvite_call.go
	d.handle(sipgo_sip.INVITE, d.onOffer(603)) // reinvite_call.go
	d.handle(sipgo_sip.UPDATE, d.onOffer(481)) // reinvite_call.go
	d.handle(sipgo_sip.INFO, d.onInfo)
	warnClearKeys(d.log, s.cfg.SRTP, s.transport)
	d.start()
	ctx, stop := context.WithCancel(context.Background())
	d.stopTrunk = stop
	if !t.literal.IsValid() {
		d.wg.Go(func() { t.run(ctx) })
	}
	if s.cfg.TrunkPing > 0 {
		d.wg.Go(func() { d.pingLoop(ctx) })
	}
	if s.register != nil {
		d.reg = newRegistration(d, s.register)
		go d.reg.run() // ended by Close
	}
	d.log.Debug("dialer ready", "local", d.local, "transport", s.transport, "trunk", s.cfg.Trunk)
	return d, nil
}

// Addr returns the bound SIP address. Over tls nothing is bound: it is
// Config.Bind as given (the source address of TLS connections).
func (d *Dialer) Addr() netip.AddrPort { return d.local }

// String describes the dialer.
func (d *Dialer) String() string {
	return fmt.Sprintf("sip.Dialer(%s %s → %s)", d.s.transport, d.local, d.s.cfg.Trunk)
}

// ForeignPackets returns how many datagrams the calls' RTP sockets have
// dropped because they did not come from the far end's media address: sent
// from elsewhere, or queued before the answer. A steady rise means someone
// is sending to the RTP range (see media.Session).
func (d *Dialer) ForeignPackets() int64 { return d.foreign.Load() }

// PacerStats returns the counters of the pacer that sends every call's
// RTP: frames sent, ticks late or skipped, and the pacing error at the
// sender.
func (d *Dialer) PacerStats() media.PacerStats { return d.pacer.Stats() }

// TrunkHealth returns what the dialer knows of its trunk now: its resolved
// addresses, the last resolution error and, with Config.TrunkPing, whether
// it answers OPTIONS. TrunkHealth().Err() is nil while it is usable.
func (d *Dialer) TrunkHealth() TrunkHealth { return d.trunk.health(d.s.cfg.TrunkPing > 0) }

// TrunkAddrs returns the trunk's resolved IP addresses (the
// OutboundProxy's when one is set), kept current as the name is resolved
// again; empty while it does not resolve. The slice is shared: do not
// modify it. It does not allocate, so a per-request allow-list may call it.
func (d *Dialer) TrunkAddrs() []netip.Addr { return d.trunk.Addrs() }

// Close hangs up every call in progress (each BYE bounded by 2 s),
// removes the registration if there is one (bounded by 4 s), stops
// listening and waits for the dialer's goroutines.
func (d *Dialer) Close() error {
	var calls []*Call
	if !d.shut(func() {
		for _, c := range d.calls {
			calls = append(calls, c)
		}
	}) {
		return nil
	}
	d.stopTrunk()
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.Hangup(ctx)
		cancel()
	}
	if d.reg != nil {
		d.reg.close() // un-REGISTER
	}
	return d.endpoint.close()
}

// Dial calls number (E.164, "+81312345678") through the trunk and returns
// the answered call. onProgress, if not nil, is called on Dial's goroutine
// for each step (trying, ringing, early-media, answered) and must not block.
// keys receives the keys the far end presses, early media's included (see
// media.SessionConfig.KeySink: it must not block); nil drops them.
//
// Every failure to reach a usable call is a *CallError: see FailureKind for
// the mapping of SIP responses. While the trunk's name does not resolve,
// Dial fails at once, Unreachable, with ErrTrunkDNS (trunk.go). A 301 or
// 302 is followed, at most three hops, to a target in the trunk's domain
// (its host or a name under it, or one of its addresses; same scheme and
// transport); any other 3xx is Unreachable with ErrRedirect naming the
// target. A 401, 403 or 407 denwa cannot satisfy is Failed with
// ErrTrunkRefused. A number the dial plan cannot turn into a
// SIP user part fails with ErrBadNumber before anything is sent. When ctx
// ends while the call rings, the INVITE is cancelled (CANCEL) and the
// CallError (Kind Failed) wraps ctx's error.
func (d *Dialer) Dial(ctx context.Context, number string, onProgress func(Progress), keys media.KeySink) (*Call, error) {
	user, err := d.s.cfg.DialPlan.Rewrite(number)
	if err != nil {
		return nil, err
	}
	if d.closed.Load() {
		return nil, ErrClosed
	}
	if onProgress == nil {
		onProgress = func(Progress) {}
	}
	dst, local, err := d.trunk.next()
	if err != nil {
		ce := &CallError{Kind: Unreachable, Err: err}
		d.log.Info("call failed", "to", MaskNumber(user), "kind", ce.Kind, "err", err)
		return nil, ce
	}
	conn, err := d.pool.Acquire()
	if err != nil {
		return nil, &CallError{Kind: Failed, Err: err}
	}
	offered := d.offerConfig(conn)
	offer, err := d.buildOffer(conn, offered, local)
	if err != nil {
		conn.Close()
		return nil, &CallError{Kind: Failed, Err: err}
	}
	inv := d.newInvite(user, offer, local)
	d.route(inv, dst)
	if d.s.transport == "tls" {
		if err := d.connectTLS(ctx, inv); err != nil {
			conn.Close()
			ce := &CallError{Kind: Unreachable, Err: err}
			if ctx.Err() != nil {
				ce = &CallError{Kind: Failed, Err: errors.Join(ctx.Err(), err)}
			}
			d.log.Info("call failed", "call_id", inv.CallID().Value(), "kind", ce.Kind, "err", ce.Err)
			return nil, ce
		}
	}
	a := &attempt{d: d, ctx: ctx, invite: inv, conn: conn, progress: onProgress, keys: keys, number: number, offered: offered,
		log: d.log.With("call_id", inv.CallID().Value(), "to", MaskNumber(user))}
	call, err := a.run()
	if err != nil {
		err = d.certRefused(err) // tls.go
		if a.early != nil {
			a.early.Close()
		}
		conn.Close()
		var ce *CallError
		if errors.As(err, &ce) {
			a.log.Info("call failed", "kind", ce.Kind, "status", ce.Status, "reason", ce.Reason, "err", ce.Err)
		}
		return nil, err
	}
	return call, nil
}

// newInvite builds the first INVITE (RFC 3261 §8.1.1); local is the
// address that routes to the trunk (see hostUnset).
func (d *Dialer) newInvite(user string, sdp []byte, local netip.Addr) *sipMsg {
	s := d.s
	ruri := sipgo_sip.Uri{Scheme: s.trunk.Scheme, User: user, Host: s.trunk.Host, Port: s.trunk.Port, UriParams: s.trunk.UriParams.Clone()}
	req := d.newRequest(sipgo_sip.INVITE, ruri, local)
	d.identify(req) // identity.go
	ct := sipgo_sip.ContentTypeHeader("application/sdp")
	req.AppendHeader(&ct)
	req.AppendHeader(sipgo_sip.NewHeader("Supported", "timer")) // RFC 4028: reinvite_timer.go
	req.SetBody(sdp)
	return req
}

// newRequest builds an out-of-dialog request to ruri (RFC 3261 §8.1.1):
// From with a new tag, To ruri, a new Call-ID, CSeq 1, Contact, the
// outbound proxy's Route, User-Agent and Allow.
func (d *Dialer) newRequest(method sipgo_sip.RequestMethod, ruri sipgo_sip.Uri, local netip.Addr) *sipMsg {
	s := d.s
	req := sipgo_sip.NewRequest(method, ruri)
	from := &sipgo_sip.FromHeader{DisplayName: s.cfg.DisplayName, Address: s.from, Params: sipgo_sip.NewParams()}
	from.Params.Add("tag", sipgo_sip.GenerateTagN(16))
	to := &sipgo_sip.ToHeader{Address: sipgo_sip.Uri{Scheme: ruri.Scheme, User: ruri.User, Host: ruri.Host, Port: ruri.Port}, Params: sipgo_sip.NewParams()}
	callID := sipgo_sip.CallIDHeader(uuid.NewString())
	cseq := &sipgo_sip.CSeqHeader{SeqNo: 1, MethodName: method}
	maxf := sipgo_sip.MaxForwardsHeader(70)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(cseq)
	req.AppendHeader(&maxf)
	contact := sipgo_sip.HeaderClone(&d.contact).(*sipgo_sip.ContactHeader)
	if d.hostUnset && local.IsValid() {
		contact.Address.Host = local.String()
	}
	req.AppendHeader(contact)
	if s.proxy != nil {
		route := s.proxy.Clone()
		if !route.UriParams.Has("lr") {
			route.UriParams.Add("lr", "")
		}
		req.AppendHeader(&sipgo_sip.RouteHeader{Address: *route})
		req.SetDestination(hostPort(s.proxy))
	}
	req.AppendHeader(sipgo_sip.NewHeader("User-Agent", s.cfg.UserAgent))
	req.AppendHeader(sipgo_sip.NewHeader("Allow", d.allow()))
	req.SetTransport(strings.ToUpper(s.transport))
	return req
}

// route sends req to dst, the next hop as denwa resolved it, over udp and
// tcp. Over tls sipgo resolves the next hop's name itself when it dials,
// as the certificate is checked against it (trunk.go).
func (d *Dialer) route(req *sipMsg, dst netip.AddrPort) {
	if d.s.transport != "tls" {
		req.SetDestination(dst.String())
	}
}

// via returns a fresh top Via with a new branch (RFC 3261 §8.1.1.7).
func (d *Dialer) via() *sipgo_sip.ViaHeader {
	host := d.viaHost
	if local := d.trunk.localAddr(); d.hostUnset && host != "" && local.IsValid() { // over tls sipgo fills it in
		host = local.String()
	}
	v := &sipgo_sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(d.s.transport),
		Host: host, Port: d.viaPort, Params: sipgo_sip.NewParams()}
	v.Params.Add("branch", sipgo_sip.GenerateBranchN(16))
	return v
}

// prepare gives req a fresh Via and, over UDP, sends it from the
// listening socket so that responses and in-dialog requests come back there.
func (d *Dialer) prepare(req *sipMsg) {
	req.RemoveHeader("Via")
	req.PrependHeader(d.via())
	switch d.s.transport {
	case "udp":
		req.Laddr = sipgo_sip.Addr{IP: net.IP(d.local.Addr().AsSlice()), Port: int(d.local.Port()), Hostname: d.local.Addr().String()}
	case "tls":
		req.Laddr = d.tlsLaddr()
	}
}

// send starts a client transaction for req with a fresh Via.
func (d *Dialer) send(ctx context.Context, req *sipMsg) (sipgo_sip.ClientTransaction, error) {
	d.prepare(req)
	return d.cli.TransactionRequest(ctx, req, func(*sipgo.Client, *sipgo_sip.Request) error { return nil })
}

// register adds c to the calls that Close hangs up and in-dialog requests
// find, and runs its watcher in wg; false once Close has begun.
func (d *Dialer) register(c *Call) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return false
	}
	d.calls[c.callID] = c
	d.wg.Go(c.watch) // under mu: Close's Wait comes after
	return true
}

func (d *Dialer) unregister(c *Call) {
	d.mu.Lock()
	if d.calls[c.callID] == c {
		delete(d.calls, c.callID)
	}
	d.mu.Unlock()
}

// onBye answers a BYE from the far end (RFC 3261 §15.1.2): 200 and end the
// call, or 481 when it matches no call.
func (d *Dialer) onBye(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) {
	c := d.match(req)
	if c == nil {
		d.log.Debug("BYE matches no call", dialogIDs(req)...)
		respond(req, tx, 481)
		return
	}
	respond(req, tx, 200)
	c.end(ErrRemoteHangup, false)
}

// match finds the call an in-dialog request belongs to: Call-ID, our tag in
// To and theirs in From.
// dialogIDs are the log attributes that name req's dialog: its Call-ID
// and tags. Never the request itself: its To and From carry the number.
func dialogIDs(req *sipgo_sip.Request) []any {
	var callID, toTag, fromTag string
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	if h := req.To(); h != nil {
		toTag, _ = h.Params.Get("tag")
	}
	if h := req.From(); h != nil {
		fromTag, _ = h.Params.Get("tag")
	}
	return []any{"call_id", truncate(callID, 120), "to_tag", truncate(toTag, 64), "from_tag", truncate(fromTag, 64)}
}

func (d *Dialer) match(req *sipgo_sip.Request) *Call {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	d.mu.Lock()
	c := d.calls[cid.Value()]
	d.mu.Unlock()
	if c == nil {
		return nil
	}
	to, from := req.To(), req.From()
	if to == nil || from == nil {
		return nil
	}
	if tag, _ := to.Params.Get("tag"); tag != c.localTag {
		return nil
	}
	if tag, _ := from.Params.Get("tag"); tag != c.remoteTag {
		return nil
	}
	return c
}

// routeTo returns the local address the OS would use to reach dst. It
// sends nothing: connecting a UDP socket only picks the route.
func routeTo(dst netip.AddrPort) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
