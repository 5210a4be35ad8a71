package sip

import (
	"errors"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	sipgo_sip "github.com/emiago/sipgo/sip"
)

// Defaults for Guard.
const (
	DefaultGuardRate            = 20   // out-of-dialog requests a second, per source
	DefaultGuardMaxTransactions = 256  // server transactions held at once
	DefaultGuardMaxSources      = 4096 // sources with a rate limit of their own

	// A Phone is a simulator that load tests call thousands of times at
	// once from one source: its limits are only a backstop.
	DefaultPhoneGuardRate            = 1000
	DefaultPhoneGuardMaxTransactions = 8192
)

// Guard is how the SIP port holds under abuse (the Dialer's and the
// Phone's). Out-of-dialog requests are served only from the trunk (or,
// for a Phone, loopback) and Allow; each source's are rate-limited; the
// out-of-dialog server transactions held at once are capped. Requests of a live dialog (a To tag, Call-ID and tags of a call
// in progress) pass from anywhere and are not limited. Over UDP all of
// this happens before sipgo parses the datagram or keeps a transaction,
// and OPTIONS is answered there, statelessly (RFC 3261 §11: OPTIONS needs
// no state). Over TCP and TLS, a connection to the listener from
// elsewhere is closed on its first bytes, and the limits apply to each
// request. Responses are
// never filtered: sipgo matches them to the transactions it sent.
//
// Zero values are documented per field.
type Guard struct {
	// Allow are networks whose out-of-dialog requests (INVITE, OPTIONS,
	// a BYE of no live call…) are answered besides a Dialer's trunk and
	// outbound proxy (their addresses as resolved at NewDialer) or a
	// Phone's loopback networks, which always are. Requests from
	// elsewhere are dropped without an answer, counted
	// (GuardStats.Strangers) and logged at most a few lines per 10 s. To
	// answer anyone: 0.0.0.0/0 and ::/0. Zero: none besides.
	Allow []netip.Prefix
	// Rate is the out-of-dialog requests a second each source may send,
	// with bursts of Burst; beyond it they are answered 503 with
	// Retry-After. Zero: DefaultGuardRate (a Phone: DefaultPhoneGuardRate);
	// Burst zero: twice Rate.
	Rate, Burst int
	// Ceiling is the requests a second each source is answered at all
	// (served or 503); beyond it they are dropped without an answer, so
	// that a flood is not answered with a flood. Zero: five times Rate.
	Ceiling int
	// MaxTransactions caps the server transactions of out-of-dialog
	// requests held at once (a transaction outlives its answer: over UDP,
	// 32 s after a non-INVITE's final response, RFC 3261 §17.2.2; a
	// Phone's INVITE lasts its call); a request beyond it is answered 503
	// as if over the rate. OPTIONS, answered without a transaction, is
	// not capped. Zero: DefaultGuardMaxTransactions (a Phone:
	// DefaultPhoneGuardMaxTransactions).
	MaxTransactions int
	// MaxSources bounds the sources remembered, each with its rate limit;
	// sources idle for a minute are forgotten to make room, and while
	// none is, new sources share one limit. Zero: DefaultGuardMaxSources.
	MaxSources int
	// Now is the clock of the rate limits and log limits. Zero: time.Now.
	Now func() time.Time
}

// GuardStats counts what the Guard refused, since NewDialer or NewPhone.
type GuardStats struct {
	// Strangers: requests from outside Allow, dropped without an answer
	// (or TCP/TLS connections closed).
	Strangers int64
	// Limited: requests answered 503 (over the rate, or the transaction
	// cap reached).
	Limited int64
	// Dropped: requests over the ceiling, dropped without an answer.
	Dropped int64
	// Malformed: datagrams that were no SIP message, dropped.
	Malformed int64
	// Options: OPTIONS answered statelessly (200).
	Options int64
}

// Loopback are the networks a Phone serves by default.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// errStranger closes a TCP or TLS connection from outside Allow (sipgo
// closes a connection whose read filter fails).
var errStranger = errors.New("sip: connection from outside the allowed networks")

// guard enforces a Guard on an endpoint.
type guard struct {
	// methods is the Allow header's value for the OPTIONS answered here:
	// the endpoint's handlers (endpoint.allow).
	methods func() string
	log     *slog.Logger
	cfg     Guard // defaults filled
	now     func() time.Time

	// allow is base and extra together; extra is Guard.Allow, base the
	// trunk's addresses (setBase) or loopback.
	allow atomic.Pointer[[]netip.Prefix]
	extra []netip.Prefix
	// live reports whether req belongs to a call in progress (Call-ID and
	// both tags); set by the endpoint's owner before it starts serving.
	live func(req *sipgo_sip.Request) bool
	// conn is the UDP listener, which stateless answers are sent from;
	// nil over TCP and TLS.
	conn *net.UDPConn
	// listenPort is the TCP or TLS listener's port: connections to it
	// were opened by the far end; 0 without one.
	listenPort uint16
	parser     *sipgo_sip.Parser

	sources sources
	// held counts server transactions from their handler's start to
	// their end.
	held atomic.Int64

	strangers, limited, dropped, malformed, options atomic.Int64
	logStranger, logLimited, logMalformed           logLimit
}

// newGuard fills c's defaults (a Phone's are set by NewPhone) and allows
// base and c.Allow.
func newGuard(c Guard, base []netip.Prefix, log *slog.Logger) *guard {
	if c.Rate <= 0 {
		c.Rate = DefaultGuardRate
	}
	if c.Burst <= 0 {
		c.Burst = 2 * c.Rate
	}
	if c.Ceiling <= c.Rate {
		c.Ceiling = 5 * c.Rate
	}
	if c.MaxTransactions <= 0 {
		c.MaxTransactions = DefaultGuardMaxTransactions
	}
	if c.MaxSources <= 0 {
		c.MaxSources = DefaultGuardMaxSources
	}
	g := &guard{log: log, cfg: c, now: c.Now, parser: sipgo_sip.NewParser(),
		live: func(*sipgo_sip.Request) bool { return false }}
	if g.now == nil {
		g.now = time.Now
	}
	g.sources = sources{m: map[netip.Addr]*source{}, max: c.MaxSources, rate: c.Rate, burst: c.Burst, ceiling: c.Ceiling}
	g.sources.shared = g.sources.newSource()
	g.extra = c.Allow
	g.setBase(base)
	return g
}

// setBase replaces the networks allowed besides Guard.Allow: the trunk's
// addresses, resolved anew.
func (g *guard) setBase(base []netip.Prefix) {
	l := append(append([]netip.Prefix(nil), base...), g.extra...)
	for i, p := range l {
		l[i] = netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), p.Addr().Unmap().BitLen())).Masked()
	}
	g.allow.Store(&l)
}

func (g *guard) allowed(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range *g.allow.Load() {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (g *guard) stats() GuardStats {
	return GuardStats{Strangers: g.strangers.Load(), Limited: g.limited.Load(), Dropped: g.dropped.Load(),
		Malformed: g.malformed.Load(), Options: g.options.Load()}
}

// filter is sipgo's read filter: it sees every datagram (and every chunk
// of a TCP or TLS stream) before sipgo parses it. It returns data to let
// it through, nil to drop it, an error to close a stream.
func (g *guard) filter(p sipgo_sip.TransportReadProps, data []byte) ([]byte, error) {
	src := addrOf(p.RemoteAddr)
	if p.Transport != "UDP" {
		// A connection the far end opened to the listener; not one sipgo
		// opened to send a request (to an SRV target, say), whose
		// responses and requests come back on it.
		if g.listenPort != 0 && addrOf(p.LocalAddr).Port() == g.listenPort && !g.allowed(src.Addr()) {
			g.stranger(src, "connection")
			return nil, errStranger
		}
		return data, nil
	}
	if isKeepAlive(data) {
		return data, nil
	}
	sl, ok := scanStart(data)
	if !ok {
		g.malformed.Add(1)
		if ok, n := g.logMalformed.allow(g.now()); ok || n > 0 {
			g.logDrop(ok, n, "SIP: dropped a datagram that is no SIP message", "src", src, "len", len(data), "start", quoteCut(data[:min(len(data), 32)]))
		}
		return nil, nil
	}
	if sl.response {
		return data, nil // matched to a client transaction by sipgo, or dropped
	}
	method := sipgo_sip.RequestMethod(sl.method)
	if hasToTag(data) && g.inDialog(src, data) {
		return data, nil
	}
	if !g.allowed(src.Addr()) {
		g.stranger(src, string(method))
		return nil, nil
	}
	verdict := g.sources.take(src.Addr(), g.now())
	if verdict == admit && method != sipgo_sip.ACK && method != sipgo_sip.OPTIONS && g.held.Load() >= int64(g.cfg.MaxTransactions) {
		verdict = refuse // its answer token is taken
	}
	switch {
	case verdict == admit && method == sipgo_sip.OPTIONS:
		g.options.Add(1)
		g.answer(data, src, 200)
		return nil, nil
	case verdict == admit:
		return data, nil
	case verdict == refuse && method != sipgo_sip.ACK: // an ACK is never answered
		g.refused(src, string(method))
		g.answer(data, src, 503)
		return nil, nil
	}
	g.dropped.Add(1)
	return nil, nil
}

// inDialog reports whether the request in data belongs to a call in
// progress. A source outside Allow pays a token of its rate for the parse.
func (g *guard) inDialog(src netip.AddrPort, data []byte) bool {
	if !g.allowed(src.Addr()) && g.sources.take(src.Addr(), g.now()) != admit {
		return false
	}
	msg, err := g.parser.ParseSIP(data)
	if err != nil {
		return false
	}
	req, ok := msg.(*sipgo_sip.Request)
	return ok && g.live(req)
}

// wrap guards a request handler: it counts an out-of-dialog request's
// transaction as held until it ends and, over TCP and TLS (UDP is done in
// filter), applies the rate and the transaction cap to it.
func (g *guard) wrap(h func(*sipgo_sip.Request, sipgo_sip.ServerTransaction)) func(*sipgo_sip.Request, sipgo_sip.ServerTransaction) {
	return func(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) {
		if tx == nil || req.IsAck() || g.live(req) { // no transaction (an ACK for a 2xx), or in a call
			h(req, tx)
			return
		}
		n := g.held.Add(1)
		if !tx.OnTerminate(func(string, error) { g.held.Add(-1) }) {
			g.held.Add(-1)
		}
		if req.Transport() == "UDP" {
			h(req, tx)
			return
		}
		src := addrOf(req.Source())
		v := g.sources.take(src.Addr(), g.now())
		if v == admit && req.Method != sipgo_sip.OPTIONS && n > int64(g.cfg.MaxTransactions) {
			v = refuse
		}
		switch v {
		case admit:
			h(req, tx)
		case refuse:
			g.refused(src, req.Method.String())
			res := sipgo_sip.NewResponseFromRequest(req, 503, reasonPhrase(503), nil)
			res.AppendHeader(sipgo_sip.NewHeader("Retry-After", g.retryAfter()))
			_ = tx.Respond(res)
		default:
			g.dropped.Add(1)
			tx.Terminate()
		}
	}
}

// answer parses the request in data and sends status back to src from
// the UDP listener, keeping nothing: 200 to OPTIONS, 503 with Retry-After
// to what is over the limits.
func (g *guard) answer(data []byte, src netip.AddrPort, status int) {
	msg, err := g.parser.ParseSIP(data)
	req, ok := msg.(*sipgo_sip.Request)
	if err != nil || !ok || g.conn == nil {
		return // malformed: sipgo would drop it too
	}
	req.SetSource(src.String())
	req.SetTransport("UDP")
	res := sipgo_sip.NewResponseFromRequest(req, status, reasonPhrase(status), nil)
	switch status {
	case 200:
		if g.methods != nil {
			res.AppendHeader(sipgo_sip.NewHeader("Allow", g.methods()))
		}
		res.AppendHeader(sipgo_sip.NewHeader("Accept", "application/sdp"))
	case 503:
		res.AppendHeader(sipgo_sip.NewHeader("Retry-After", g.retryAfter()))
	}
	_, _ = g.conn.WriteToUDPAddrPort([]byte(res.String()), src)
}

// retryAfter is a whole number of seconds in which a source's bucket has
// refilled: Burst tokens at Rate, at least 1 s.
func (g *guard) retryAfter() string {
	return strconv.Itoa(max(1, int(math.Ceil(float64(g.cfg.Burst)/float64(g.cfg.Rate)))))
}

func (g *guard) stranger(src netip.AddrPort, what string) {
	g.strangers.Add(1)
	if ok, n := g.logStranger.allow(g.now()); ok || n > 0 {
		g.logDrop(ok, n, "SIP: dropped a request from outside the allowed networks", "src", src, "method", quoteCut([]byte(what)))
	}
}

func (g *guard) refused(src netip.AddrPort, method string) {
	g.limited.Add(1)
	if ok, n := g.logLimited.allow(g.now()); ok || n > 0 {
		g.logDrop(ok, n, "SIP: answered 503, over the rate or the transaction cap", "src", src, "method", quoteCut([]byte(method)),
			"rate", g.cfg.Rate, "held", g.held.Load())
	}
}

// logDrop writes the summary of suppressed lines, if any, then the line
// itself when ok.
func (g *guard) logDrop(ok bool, suppressed int, msg string, args ...any) {
	if suppressed > 0 {
		g.log.Warn(msg+" (repeated)", "suppressed", suppressed, "interval", logInterval)
	}
	if ok {
		g.log.Warn(msg, args...)
	}
}

// addrOf returns a's address and port, unmapped; zero when a is neither
// UDP nor TCP, or a string that is no ip:port.
func addrOf(a any) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	case string:
		ap, _ = netip.ParseAddrPort(a)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// trunkNetworks are the trunk's and the outbound proxy's hosts written as
// IP literals, each a single-address prefix: networks a Dialer always
// allows. Names are left to the trunk's resolver (trunk.go), whose
// addresses the Dialer adds as they come and go (allowTrunk), so a name
// that resolves late or moves is followed without a lookup of its own.
func (s *dialerSetup) trunkNetworks() []netip.Prefix {
	hosts := []string{s.trunk.Host}
	if s.proxy != nil {
		hosts = append(hosts, s.proxy.Host)
	}
	out := []netip.Prefix{}
	for _, h := range hosts {
		if a, err := netip.ParseAddr(bareHost(h)); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out
}

// allowTrunk makes the guard allow the literals and the addresses the
// trunk's host name resolves to now (ips).
func allowTrunk(g *guard, literals []netip.Prefix, ips []netip.Addr) {
	base := slices.Clone(literals)
	for _, a := range ips {
		if p := netip.PrefixFrom(a, a.BitLen()); !slices.Contains(base, p) {
			base = append(base, p)
		}
	}
	g.setBase(base)
}
