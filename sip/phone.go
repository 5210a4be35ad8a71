package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipgo_sip "github.com/emiago/sipgo/sip"

	"denwa/dtmf"
	"denwa/media"
)

// KeyMode says how a Phone presses keys.
type KeyMode uint8

const (
	KeyRFC4733 KeyMode = iota // RFC 4733 telephone-event packets (the default)
	KeyInband                 // DTMF tones in the G.711 audio
)

// String returns "rfc4733" or "inband".
func (m KeyMode) String() string {
	if m == KeyInband {
		return "inband"
	}
	return "rfc4733"
}

// Defaults for PhoneConfig.
const (
	DefaultKeyDelay    = 500 * time.Millisecond
	DefaultKeyGap      = 200 * time.Millisecond
	DefaultKeyDuration = 120 * time.Millisecond
)

// PhoneConfig configures a Phone, the simulated called party. Zero values
// are documented per field.
type PhoneConfig struct {
	// Network is "udp", "tcp" or "tls". Zero: udp.
	Network string
	// TLS is the server configuration for Network "tls" and must carry a
	// certificate (Certificates, GetCertificate or GetConfigForClient);
	// set ClientAuth and ClientCAs to require the caller's certificate.
	// It is cloned. The Phone sends its BYE over the connection the INVITE
	// came in on when the caller's Contact names it (see Config.TLS).
	// Ignored for udp and tcp.
	TLS *tls.Config
	// Listen is the SIP address "ip:port". Zero: "127.0.0.1:0".
	Listen string
	// User, if set, accepts only calls whose Request-URI user is User
	// (others get 404).
	User string
	// RingFor is how long to send 180 Ringing before answering (or before
	// the final Status). Negative rings until the caller gives up. Zero:
	// answer at once.
	RingFor time.Duration
	// Status, if non-zero, is a final status (≥ 300) to answer with
	// instead of answering: 486 busy, 603 decline, 503, ….
	Status int
	// Keys are pressed in order after KeyDelay, e.g. "#", "*#", "0#".
	Keys string
	// KeyMode is RFC 4733 events (zero) or in-band tones.
	KeyMode KeyMode
	// KeyDelay is the wait from answer to the first key; KeyGap between
	// keys; KeyDuration each key's length. Zero: 500 ms, 200 ms, 120 ms.
	KeyDelay, KeyGap, KeyDuration time.Duration
	// HangupAfter, if non-zero, sends BYE this long after the answer.
	HangupAfter time.Duration
	// Silent answers but sends no RTP at all (and presses no keys).
	Silent bool
	// Codecs accepted, in order of preference. Zero: PCMU, PCMA.
	Codecs []media.PayloadKind
	// EventPT, if non-zero, answers telephone-event with this payload
	// type instead of the caller's. Zero: the offer's.
	EventPT uint8
	// RTPAddr, RTPPortFirst and RTPPortLast bound the RTP sockets. Zero:
	// the SIP listen address, 40000–40999.
	RTPAddr                   netip.Addr
	RTPPortFirst, RTPPortLast int
	// Calls, if not nil, receives a PhoneCall for every call once it has
	// ended. Sends do not block: a full channel drops the report.
	Calls chan<- PhoneCall
	// Logger; zero: slog.Default().
	Logger *slog.Logger
}

// PhoneOutcome is how a call to the Phone ended.
type PhoneOutcome uint8

const (
	PhoneUnknown      PhoneOutcome = iota
	PhoneRefused                   // answered with PhoneConfig.Status, or 404 for another user
	PhoneCancelled                 // the caller sent CANCEL while it rang
	PhoneCallerHungUp              // the caller sent BYE
	PhoneHungUp                    // the Phone sent BYE (HangupAfter)
	PhoneFailed                    // SDP or media trouble, no ACK; Err says what
)

var phoneOutcomeNames = [...]string{"unknown", "refused", "cancelled", "caller-hung-up", "hung-up", "failed"}

func (o PhoneOutcome) String() string {
	if int(o) < len(phoneOutcomeNames) {
		return phoneOutcomeNames[o]
	}
	return "PhoneOutcome(" + strconv.Itoa(int(o)) + ")"
}

// PhoneCall reports one call the Phone received.
type PhoneCall struct {
	CallID   string
	From, To string // URIs
	User     string // Request-URI user
	Status   int    // the final status sent (200 when answered)
	Codec    media.PayloadKind
	EventPT  uint8
	KeysSent string
	Outcome  PhoneOutcome
	Start    time.Time
	End      time.Time
	Err      error
}

// Phone is a SIP UAS that answers calls like a person with a phone: it
// rings, answers with SDP, sends silence, presses keys and hangs up, as
// configured. It is safe for concurrent use and serves calls in parallel.
type Phone struct {
	cfg   PhoneConfig
	log   *slog.Logger
	ua    *sipgo.UserAgent
	srv   *sipgo.Server
	cli   *sipgo.Client
	ds    *sipgo.DialogServerCache
	pool  *media.PortPool
	pacer *media.Pacer
	addr  netip.AddrPort
	rtpIP netip.Addr

	mu      sync.Mutex
	closed  bool
	closer  func() error
	cancels map[string]context.CancelFunc
	wg      sync.WaitGroup
}

// NewPhone validates cfg and binds the SIP listener; Serve runs it.
func NewPhone(cfg PhoneConfig) (*Phone, error) {
	if cfg.Network == "" {
		cfg.Network = "udp"
	}
	cfg.Network = strings.ToLower(cfg.Network)
	switch cfg.Network {
	case "udp", "tcp":
	case "tls":
		if !tlsServerReady(cfg.TLS) {
			return nil, fmt.Errorf("%w: phone network tls needs PhoneConfig.TLS with a certificate", ErrConfig)
		}
		cfg.TLS = cfg.TLS.Clone()
	default:
		return nil, fmt.Errorf("%w: phone network %q (want udp, tcp or tls)", ErrConfig, cfg.Network)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	listen, err := netip.ParseAddrPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w: phone Listen %q: %v", ErrConfig, cfg.Listen, err)
	}
	if cfg.Status != 0 && (cfg.Status < 300 || cfg.Status > 699) {
		return nil, fmt.Errorf("%w: phone Status %d is not a final failure status (300–699)", ErrConfig, cfg.Status)
	}
	if _, err := dtmf.ParseKeys(cfg.Keys); err != nil {
		return nil, fmt.Errorf("%w: phone Keys %q: %v", ErrConfig, cfg.Keys, err)
	}
	if cfg.KeyMode > KeyInband {
		return nil, fmt.Errorf("%w: phone KeyMode %d", ErrConfig, cfg.KeyMode)
	}
	if cfg.KeyDelay < 0 || cfg.KeyGap < 0 || cfg.KeyDuration < 0 || cfg.HangupAfter < 0 {
		return nil, fmt.Errorf("%w: negative phone timing", ErrConfig)
	}
	cfg.KeyDelay = orDefault(cfg.KeyDelay, DefaultKeyDelay)
	cfg.KeyGap = orDefault(cfg.KeyGap, DefaultKeyGap)
	cfg.KeyDuration = orDefault(cfg.KeyDuration, DefaultKeyDuration)
	if cfg.Codecs, err = checkCodecs(cfg.Codecs); err != nil {
		return nil, err
	}
	if cfg.EventPT != 0 && !media.IsDynamic(cfg.EventPT) {
		return nil, fmt.Errorf("%w: phone EventPT %d is not dynamic (96–127)", ErrConfig, cfg.EventPT)
	}
	if cfg.RTPPortFirst == 0 && cfg.RTPPortLast == 0 {
		cfg.RTPPortFirst, cfg.RTPPortLast = 40000, 40999
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Phone{cfg: cfg, log: cfg.Logger.With("component", "sip.Phone"), cancels: map[string]context.CancelFunc{}}
	p.rtpIP = cfg.RTPAddr
	if !p.rtpIP.IsValid() {
		p.rtpIP = listen.Addr()
	}
	if p.rtpIP.IsUnspecified() {
		return nil, fmt.Errorf("%w: phone needs a specified RTPAddr (or Listen address) for its SDP", ErrConfig)
	}
	if p.pool, err = media.NewPortPool(p.rtpIP, cfg.RTPPortFirst, cfg.RTPPortLast); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if p.ua, err = sipgo.NewUA(sipgo.WithUserAgent("denwa-phone"),
		sipgo.WithUserAgentTransactionLayerOptions(sipgo_sip.WithTransactionLayerLogger(quietLogger(p.log))),
		sipgo.WithUserAgentTransportLayerOptions(sipgo_sip.WithTransportLayerLogger(quietLogger(p.log)))); err != nil {
		return nil, fmt.Errorf("sip: phone user agent: %w", err)
	}
	if p.srv, err = sipgo.NewServer(p.ua, sipgo.WithServerLogger(quietLogger(p.log))); err != nil {
		p.ua.Close()
		return nil, fmt.Errorf("sip: phone server: %w", err)
	}
	var serve func()
	switch cfg.Network {
	case "udp":
		c, err := net.ListenUDP(udpNet(listen.Addr()), net.UDPAddrFromAddrPort(listen))
		if err != nil {
			p.ua.Close()
			return nil, fmt.Errorf("sip: phone listen udp %s: %w", listen, err)
		}
		p.addr = unmapAP(c.LocalAddr().(*net.UDPAddr).AddrPort())
		p.closer = c.Close
		serve = func() {
			p.wg.Go(func() { _ = p.srv.ServeUDP(c) })
			waitListener(p.ua, "udp", p.addr)
		}
	case "tcp":
		l, err := net.ListenTCP(tcpNet(listen.Addr()), net.TCPAddrFromAddrPort(listen))
		if err != nil {
			p.ua.Close()
			return nil, fmt.Errorf("sip: phone listen tcp %s: %w", listen, err)
		}
		p.addr = unmapAP(l.Addr().(*net.TCPAddr).AddrPort())
		p.closer = l.Close
		serve = func() { p.wg.Go(func() { _ = p.srv.ServeTCP(l) }) }
	case "tls":
		l, addr, err := listenTLS(listen, cfg.TLS)
		if err != nil {
			p.ua.Close()
			return nil, fmt.Errorf("sip: phone listen tls %s: %w", listen, err)
		}
		p.addr = addr
		p.closer = l.Close
		serve = func() { p.wg.Go(func() { _ = p.srv.ServeTLS(l) }) }
	}
	opts := []sipgo.ClientOption{sipgo.WithClientHostname(p.addr.Addr().String()), sipgo.WithClientPort(int(p.addr.Port())), sipgo.WithClientLogger(quietLogger(p.log))}
	if cfg.Network == "udp" {
		opts = append(opts, sipgo.WithClientConnectionAddr(p.addr.String()))
	}
	if p.cli, err = sipgo.NewClient(p.ua, opts...); err != nil {
		p.Close()
		return nil, fmt.Errorf("sip: phone client: %w", err)
	}
	contact := sipgo_sip.ContactHeader{Address: sipgo_sip.Uri{Scheme: "sip", User: cfg.User, Host: p.addr.Addr().String(), Port: int(p.addr.Port())}}
	if cfg.Network != "udp" {
		contact.Address.UriParams = sipgo_sip.HeaderParams{{K: "transport", V: cfg.Network}}
	}
	p.ds = sipgo.NewDialogServerCache(p.cli, contact)
	p.pacer = media.NewPacer(media.PacerConfig{Logger: p.log})
	p.srv.OnInvite(p.onInvite)
	p.srv.OnAck(func(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) { _ = p.ds.ReadAck(req, tx) })
	p.srv.OnBye(func(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) {
		if err := p.ds.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sipgo_sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		}
	})
	p.srv.OnOptions(func(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) {
		_ = tx.Respond(sipgo_sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	serve()
	return p, nil
}

// Addr returns the SIP address the Phone listens on.
func (p *Phone) Addr() netip.AddrPort { return p.addr }

// URI returns a SIP URI that reaches the Phone, e.g.
// "sip:127.0.0.1:5070;transport=tcp" or "sip:127.0.0.1:5071;transport=tls".
func (p *Phone) URI() string {
	u := "sip:" + p.addr.String()
	if p.cfg.Network != "udp" {
		u += ";transport=" + p.cfg.Network
	}
	return u
}

// String describes the phone.
func (p *Phone) String() string { return fmt.Sprintf("sip.Phone(%s %s)", p.cfg.Network, p.addr) }

// Serve serves calls until ctx ends, then closes the Phone and returns
// ctx's error.
func (p *Phone) Serve(ctx context.Context) error {
	<-ctx.Done()
	p.Close()
	return ctx.Err()
}

// Close ends every call, stops listening and waits for the Phone's
// goroutines.
func (p *Phone) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for _, c := range p.cancels {
		c()
	}
	p.mu.Unlock()
	var err error
	if p.closer != nil {
		err = p.closer()
	}
	if p.ua != nil {
		_ = p.ua.Close()
	}
	p.wg.Wait()
	if p.pacer != nil {
		p.pacer.Close()
	}
	return err
}

func (p *Phone) report(pc PhoneCall) {
	if p.cfg.Calls == nil {
		return
	}
	select {
	case p.cfg.Calls <- pc:
	default:
		p.log.Warn("phone call report dropped: channel full", "call_id", pc.CallID)
	}
}

// onInvite runs one call on sipgo's handler goroutine, for its lifetime.
func (p *Phone) onInvite(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = tx.Respond(sipgo_sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil))
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()

	pc := PhoneCall{User: req.Recipient.User, Start: time.Now()}
	if h := req.CallID(); h != nil {
		pc.CallID = h.Value()
	}
	if h := req.From(); h != nil {
		pc.From = h.Address.String()
	}
	if h := req.To(); h != nil {
		pc.To = h.Address.String()
	}
	defer func() {
		pc.End = time.Now()
		p.report(pc)
	}()
	log := p.log.With("call_id", pc.CallID)
	if p.cfg.User != "" && req.Recipient.User != p.cfg.User {
		pc.Status, pc.Outcome = 404, PhoneRefused
		_ = tx.Respond(sipgo_sip.NewResponseFromRequest(req, 404, "Not Found", nil))
		return
	}
	if existing := req.To(); existing != nil && existing.Params.Has("tag") {
		// A re-INVITE: keep the session as it is.
		_ = tx.Respond(sipgo_sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	dlg, err := p.ds.ReadInvite(req, tx)
	if err != nil {
		pc.Outcome, pc.Err = PhoneFailed, err
		_ = tx.Respond(sipgo_sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	defer dlg.Close()
	ctx, cancel := context.WithCancel(dlg.Context())
	defer cancel()
	p.mu.Lock()
	p.cancels[pc.CallID] = cancel
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.cancels, pc.CallID)
		p.mu.Unlock()
	}()

	// Ring.
	if p.cfg.RingFor != 0 {
		if err := dlg.Respond(180, "Ringing", nil); err != nil {
			pc.Outcome, pc.Err = PhoneFailed, err
			return
		}
		var ring <-chan time.Time
		if p.cfg.RingFor > 0 {
			t := time.NewTimer(p.cfg.RingFor)
			defer t.Stop()
			ring = t.C
		}
		select {
		case <-ring:
		case <-ctx.Done():
			pc.Outcome, pc.Status = PhoneCancelled, 487
			log.Debug("cancelled while ringing")
			return
		}
	}
	if p.cfg.Status != 0 {
		pc.Status, pc.Outcome = p.cfg.Status, PhoneRefused
		_ = dlg.Respond(p.cfg.Status, reasonPhrase(p.cfg.Status), nil)
		return
	}

	// Answer.
	conn, err := p.pool.Acquire()
	if err != nil {
		pc.Outcome, pc.Err, pc.Status = PhoneFailed, err, 503
		_ = dlg.Respond(503, "Service Unavailable", nil)
		return
	}
	defer conn.Close()
	body, neg, err := media.AnswerOffer(req.Body(), media.AnswerConfig{Addr: p.rtpIP, Port: conn.LocalAddrPort().Port(), Codecs: p.cfg.Codecs, EventPT: p.cfg.EventPT})
	if err != nil {
		pc.Outcome, pc.Err, pc.Status = PhoneFailed, err, 488
		_ = dlg.Respond(488, "Not Acceptable Here", nil)
		return
	}
	pc.Codec, pc.EventPT, pc.Status = neg.Codec, neg.EventPT, 200
	if err := dlg.RespondSDP(body); err != nil {
		pc.Outcome, pc.Err = PhoneFailed, err
		if dlg.Context().Err() != nil {
			// A caller that hangs up at once: its BYE ended the dialog
			// before sipgo's wait for the ACK saw the ACK (both came).
			pc.Outcome, pc.Err = PhoneCallerHungUp, nil
		}
		return
	}
	log.Debug("answered", "media", neg.String())

	var sess *media.Session
	var keysDone chan string
	if !p.cfg.Silent {
		sc := neg.SessionConfig()
		out := &sendCounter{PacketConn: conn}
		sc.Conn, sc.Pacer, sc.Logger = out, p.pacer, p.log
		if sess, err = media.NewSession(sc); err != nil {
			pc.Outcome, pc.Err = PhoneFailed, err
			p.bye(dlg)
			return
		}
		defer sess.Close()
		keysDone = make(chan string, 1)
		go func() { keysDone <- p.pressKeys(ctx, sess, out) }()
	}
	var hang <-chan time.Time
	if p.cfg.HangupAfter > 0 {
		t := time.NewTimer(p.cfg.HangupAfter)
		defer t.Stop()
		hang = t.C
	}
	select {
	case <-ctx.Done():
		pc.Outcome = PhoneCallerHungUp
		if p.isClosed() {
			p.bye(dlg)
			pc.Outcome = PhoneHungUp
		}
	case <-hang:
		pc.Outcome = PhoneHungUp
		p.bye(dlg)
	}
	cancel()
	if keysDone != nil {
		pc.KeysSent = <-keysDone
	}
}

// sendCounter counts the datagrams a session hands to its socket, before
// each is sent: once the far end has reacted to a packet, the count
// includes it (a count taken after the write could still lag behind).
type sendCounter struct {
	media.PacketConn
	n atomic.Int64
}

func (c *sendCounter) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	c.n.Add(1)
	return c.PacketConn.WriteToUDPAddrPort(b, to)
}

// pressKeys presses the configured keys and returns those sent.
func (p *Phone) pressKeys(ctx context.Context, sess *media.Session, out *sendCounter) string {
	keys, _ := dtmf.ParseKeys(p.cfg.Keys)
	if len(keys) == 0 {
		return ""
	}
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !wait(p.cfg.KeyDelay) {
		return ""
	}
	var sent strings.Builder
	for i, k := range keys {
		if i > 0 && !wait(p.cfg.KeyGap) {
			break
		}
		before := out.n.Load()
		if err := sess.SendKey(ctx, k, p.mediaMode(), p.cfg.KeyDuration); err != nil {
			// A caller that hangs up on hearing the key cuts the press
			// short, as soon as its first RFC 4733 packet or 32–38 ms of
			// its tone has arrived (a live session acts on key-down): it
			// counts once its first packet went out, that is once a
			// packet went out while it was being pressed.
			if out.n.Load() > before {
				sent.WriteByte(byte(k))
			} else if !errors.Is(err, context.Canceled) {
				p.log.Info("phone key not sent", "key", k, "err", err)
			}
			break
		}
		sent.WriteByte(byte(k))
	}
	return sent.String()
}

func (p *Phone) mediaMode() media.KeyMode {
	if p.cfg.KeyMode == KeyInband {
		return media.Inband
	}
	return media.RFC4733
}

func (p *Phone) bye(dlg *sipgo.DialogServerSession) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := dlg.Bye(ctx); err != nil {
		p.log.Info("phone BYE failed", "err", err)
	}
}

func (p *Phone) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func reasonPhrase(status int) string {
	switch status {
	case 404:
		return "Not Found"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	case 403:
		return "Forbidden"
	}
	return "Failed"
}
