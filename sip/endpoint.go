package sip

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipgo_sip "github.com/emiago/sipgo/sip"

	"denwa/media"
)

// endpoint is what a Dialer and a Phone are both made of: a sipgo user
// agent with its server (requests that come in) and client (requests that
// go out), the SIP listener, the RTP port pool and the pacer that sends
// every call's RTP.
//
// Goroutines: start runs the listener's serve loop in wg; the owner adds
// its calls' goroutines to wg as well (a Dialer's call watchers, a Phone's
// calls), under mu and only while closed is false. The owner's Close marks
// it closed (shut) and ends its calls, then calls close, which stops
// listening, closes the user agent, waits for wg and closes the pacer last
// (a call's media may use it until its goroutine is gone).
type endpoint struct {
	log     *slog.Logger
	network string // "udp", "tcp" or "tls"
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	cli     *sipgo.Client
	pool    *media.PortPool
	pacer   *media.Pacer // one sending goroutine for every call
	// local is the bound SIP address; without a listener (a TLS client)
	// the bind address as given.
	local netip.AddrPort
	// host and port are put in Via and Contact.
	host string
	port int
	// rtpAddr is the address put in SDP; invalid when the RTP sockets
	// bind an unspecified address (each socket's own address is used).
	rtpAddr netip.Addr

	// guard filters what comes in (guard.go); its live is set by the
	// owner before start.
	guard *guard

	closer func() error // closes the listener; nil without one
	serve  func()       // the serve loop; nil without a listener
	wg     sync.WaitGroup

	// mu guards the owner's registry of calls in progress and the setting
	// of closed, so that a call is either registered before Close begins
	// (and ended by it) or refused.
	mu     sync.Mutex
	closed atomic.Bool
}

// endpointConfig is a validated subset of Config or PhoneConfig.
type endpointConfig struct {
	network string
	bind    netip.AddrPort
	// serverTLS, over tls, is the listener's configuration (with its
	// certificate). Nil: a TLS client only, with no listener (tls.go).
	serverTLS *tls.Config
	// clientTLS configures the connections opened over tls; nil: sipgo's.
	clientTLS *tls.Config
	userAgent string
	// fromHost is the host sipgo puts in the requests it builds itself;
	// zero: sipgo's default.
	fromHost string
	// host and port to advertise in Via and Contact; zero: the bound
	// address's.
	host string
	port int
	// rtpAddr is where RTP binds. Zero: the bound SIP address or, when
	// that is unspecified, host when it is an IP address.
	rtpAddr           netip.Addr
	rtpFirst, rtpLast int
	log               *slog.Logger
	// guard is the owner's Guard; allow, the networks it allows besides
	// Guard.Allow (the trunk's, or loopback).
	guard Guard
	allow []netip.Prefix
}

// newEndpoint binds the SIP listener and sets up the rest; start serves.
func newEndpoint(c endpointConfig) (*endpoint, error) {
	routeSipgoLog() // sipgolog.go
	e := &endpoint{log: c.log, network: c.network}
	e.guard = newGuard(c.guard, c.allow, c.log)
	lib := libLogger(c.log) // sipgo's messages: quieter, cut and rate-limited
	opts := []sipgo.UserAgentOption{sipgo.WithUserAgent(c.userAgent), sipgo.WithUserAgenTLSConfig(c.clientTLS),
		sipgo.WithUserAgentTransactionLayerOptions(sipgo_sip.WithTransactionLayerLogger(lib),
			// A closed TCP/TLS connection ends its transactions at once
			// rather than at their timers (an INVITE would wait 32 s).
			sipgo_sip.WithTransactionLayerTerminateOnConnClose(),
			// A response no transaction waits for: a late retransmission,
			// or a stranger's; sipgo's default logs it to its package logger.
			sipgo_sip.WithTransactionLayerUnhandledResponseHandler(func(r *sipgo_sip.Response) {
				lib.Info("unmatched response dropped", "status", r.StatusCode, "src", r.Source())
			})),
		sipgo.WithUserAgentTransportLayerOptions(sipgo_sip.WithTransportLayerLogger(lib),
			sipgo_sip.WithTransportLayerReadFilter(e.guard.filter))}
	if c.fromHost != "" {
		opts = append(opts, sipgo.WithUserAgentHostname(c.fromHost))
	}
	var err error
	if e.ua, err = sipgo.NewUA(opts...); err != nil {
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	fail := func(err error) (*endpoint, error) {
		e.close()
		return nil, err
	}
	if e.srv, err = sipgo.NewServer(e.ua, sipgo.WithServerLogger(lib)); err != nil {
		return fail(fmt.Errorf("sip: server: %w", err))
	}
	e.guard.methods = e.allow
	if err := e.listen(c.bind, c.serverTLS); err != nil {
		return fail(fmt.Errorf("sip: listen %s %s: %w", c.network, c.bind, err))
	}
	e.host, e.port = c.host, c.port
	if e.host == "" {
		e.host = e.local.Addr().String()
	}
	if e.port == 0 {
		e.port = int(e.local.Port())
	}
	copts := []sipgo.ClientOption{sipgo.WithClientLogger(lib), sipgo.WithClientHostname(e.host), sipgo.WithClientPort(e.port)}
	if c.network == "udp" {
		copts = append(copts, sipgo.WithClientConnectionAddr(e.local.String()))
	}
	if e.cli, err = sipgo.NewClient(e.ua, copts...); err != nil {
		return fail(fmt.Errorf("sip: client: %w", err))
	}
	rtpIP := c.rtpAddr
	if !rtpIP.IsValid() {
		rtpIP = e.local.Addr()
		if a, err := netip.ParseAddr(e.host); err == nil && rtpIP.IsUnspecified() {
			rtpIP = a
		}
	}
	if !rtpIP.IsUnspecified() {
		e.rtpAddr = rtpIP
	}
	if e.pool, err = media.NewPortPool(rtpIP, c.rtpFirst, c.rtpLast); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrConfig, err))
	}
	e.pacer = media.NewPacer(media.PacerConfig{Logger: c.log})
	// Over UDP the guard answers OPTIONS itself; these are TCP's and TLS's.
	e.handle(sipgo_sip.OPTIONS, func(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) { respond(req, tx, 200) })
	e.handle(sipgo_sip.CANCEL, func(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) { respond(req, tx, 481) }) // matched no INVITE (info.go)
	e.srv.OnNoRoute(e.guard.wrap(e.methodNotAllowed))
	return e, nil
}

// listen binds the SIP listener: UDP, TCP, or TLS with serverTLS. Over tls
// without serverTLS nothing listens: the far end's in-dialog requests come
// back over the connection the INVITE went out on (see tls.go).
func (e *endpoint) listen(bind netip.AddrPort, serverTLS *tls.Config) error {
	if e.network == "tls" && serverTLS == nil {
		e.local = bind
		return nil
	}
	var err error
	switch e.network {
	case "udp":
		var c *net.UDPConn
		if c, err = net.ListenUDP(udpNet(bind.Addr()), net.UDPAddrFromAddrPort(bind)); err == nil {
			e.local, e.closer = unmapAP(c.LocalAddr().(*net.UDPAddr).AddrPort()), c.Close
			e.guard.conn = c
			e.serve = func() { _ = e.srv.ServeUDP(c) }
		}
	default: // tcp, and tls over it
		var l *net.TCPListener
		if l, err = net.ListenTCP(tcpNet(bind.Addr()), net.TCPAddrFromAddrPort(bind)); err == nil {
			e.local, e.closer = unmapAP(l.Addr().(*net.TCPAddr).AddrPort()), l.Close
			e.guard.listenPort = e.local.Port()
			e.serve = func() { _ = e.srv.ServeTCP(l) }
		}
		if err == nil && e.network == "tls" {
			tl := tls.NewListener(l, serverTLS)
			e.serve = func() { _ = e.srv.ServeTLS(tl) }
		}
	}
	return err
}

// start runs the serve loop, once the owner's handlers are set. Over UDP
// it waits (at most 2 s) until sipgo's transport has registered the
// listener: a request sent before that would not find the socket and would
// try to bind it again.
func (e *endpoint) start() {
	if e.serve == nil {
		return
	}
	e.wg.Go(e.serve)
	if e.network != "udp" {
		return
	}
	for range 400 {
		if c, _ := e.ua.TransportLayer().GetConnection("udp", e.local.String()); c != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// handle serves method's requests with h, through the guard (guard.wrap).
func (e *endpoint) handle(method sipgo_sip.RequestMethod, h func(*sipgo_sip.Request, sipgo_sip.ServerTransaction)) {
	e.srv.OnRequest(method, e.guard.wrap(h))
}

// GuardStats returns what the SIP port's guard has refused so far (see
// Guard): requests from strangers, over the rate or the ceiling, and
// datagrams that were no SIP.
func (e *endpoint) GuardStats() GuardStats { return e.guard.stats() }

// shut marks the endpoint closed and runs stop under mu, to cancel or
// collect the owner's calls. It reports false when it had run before.
func (e *endpoint) shut(stop func()) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Swap(true) {
		return false
	}
	stop()
	return true
}

// close stops listening, closes the user agent, waits for the endpoint's
// goroutines and closes the pacer. The owner has ended its calls.
func (e *endpoint) close() error {
	var err error
	if e.closer != nil {
		err = e.closer()
	}
	if e.ua != nil {
		_ = e.ua.Close()
	}
	e.wg.Wait()
	if e.pacer != nil {
		e.pacer.Close()
	}
	return err
}

// contact is the Contact for user at the advertised address, with the
// transport named unless it is udp. sips gives a sips URI, which implies
// TLS without a transport parameter (RFC 3261 §8.1.1.8).
func (e *endpoint) contact(user string, sips bool) sipgo_sip.ContactHeader {
	ct := sipgo_sip.ContactHeader{Address: sipgo_sip.Uri{Scheme: "sip", User: user, Host: e.host, Port: e.port}}
	switch {
	case sips:
		ct.Address.Scheme = "sips"
	case e.network != "udp":
		ct.Address.UriParams = sipgo_sip.HeaderParams{{K: "transport", V: e.network}}
	}
	return ct
}

// respond answers req with status and its usual reason phrase.
func respond(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction, status int) {
	_ = tx.Respond(sipgo_sip.NewResponseFromRequest(req, status, reasonPhrase(status), nil))
}

// reasons are the reason phrases of the statuses this package sends.
var reasons = map[int]string{
	200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 415: "Unsupported Media Type", 480: "Temporarily Unavailable",
	481: "Call/Transaction Does Not Exist", 486: "Busy Here", 488: "Not Acceptable Here",
	500: "Server Internal Error", 503: "Service Unavailable", 600: "Busy Everywhere", 603: "Decline",
}

func reasonPhrase(status int) string {
	if r, ok := reasons[status]; ok {
		return r
	}
	return "Failed"
}

func hostPort(u *sipgo_sip.Uri) string {
	if u.Port == 0 {
		return u.Host
	}
	return net.JoinHostPort(bareHost(u.Host), strconv.Itoa(u.Port))
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func udpNet(a netip.Addr) string {
	if a.Is4() {
		return "udp4"
	}
	return "udp"
}

func tcpNet(a netip.Addr) string {
	if a.Is4() {
		return "tcp4"
	}
	return "tcp"
}
