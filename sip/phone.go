package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipgo_sip "github.com/emiago/sipgo/sip"

	"denwa/audio"
	"denwa/dtmf"
	"denwa/media"
)

// KeyMode says how a Phone presses keys.
type KeyMode uint8

const (
	KeyRFC4733 KeyMode = iota // RFC 4733 telephone-event packets (the default)
	KeyInband                 // DTMF tones in the G.711 audio
	KeySIPInfo                // SIP INFO requests (application/dtmf-relay) in the call's dialog
)

// String returns "rfc4733", "inband" or "sip-info".
func (m KeyMode) String() string {
	switch m {
	case KeyInband:
		return "inband"
	case KeySIPInfo:
		return "sip-info"
	}
	return "rfc4733"
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
	SRTP     media.CryptoSuite // the SRTP suite negotiated; zero: plain RTP
	KeysSent string
	Outcome  PhoneOutcome
	// Holds counts the holds the Phone made and resumed
	// (PhoneConfig.HoldAfter); HeardAfterResume the RTP packets it
	// received from the caller after the last resume.
	Holds            int
	HeardAfterResume int64
	Start            time.Time
	End              time.Time
	Err              error
}

// Phone is a SIP UAS that answers calls like a person with a phone: it
// rings, answers with SDP, sends silence, presses keys and hangs up, as
// configured. It is safe for concurrent use and serves calls in parallel.
type Phone struct {
	*endpoint
	cfg PhoneConfig
	ds  *sipgo.DialogServerCache
	ear *earFrames // the digit prompts it recognises; nil without PhoneConfig.Digits

	// cancels holds the calls in progress, each running in wg; next is
	// the last call's key. Both are guarded by mu.
	cancels map[uint64]context.CancelFunc
	next    uint64
	// dialogs finds a call in progress by Call-ID (*phoneDialog,
	// reinvite_phone.go); hearings a call's *hearing (phone_hear.go).
	dialogs, hearings sync.Map
}

// NewPhone validates cfg and binds the SIP listener; Serve runs it.
func NewPhone(cfg PhoneConfig) (*Phone, error) {
	listen, err := cfg.setup()
	if err != nil {
		return nil, err
	}
	var ef *earFrames
	if cfg.Digits != ([10]*audio.Prompt{}) { // any set: newEarFrames wants all ten
		if ef, err = newEarFrames(cfg.Digits); err != nil {
			return nil, err
		}
	}
	ec := endpointConfig{network: cfg.Network, bind: listen, userAgent: "denwa-phone",
		rtpAddr: cfg.RTPAddr, rtpFirst: cfg.RTPPortFirst, rtpLast: cfg.RTPPortLast,
		log: cfg.Logger.With("component", "sip.Phone"), guard: cfg.Guard, allow: loopback}
	if ec.guard.Rate == 0 {
		ec.guard.Rate = DefaultPhoneGuardRate
	}
	if ec.guard.MaxTransactions == 0 {
		ec.guard.MaxTransactions = DefaultPhoneGuardMaxTransactions
	}
	if cfg.Network == "tls" {
		ec.serverTLS = cfg.TLS
	}
	e, err := newEndpoint(ec)
	if err != nil {
		return nil, err
	}
	p := &Phone{endpoint: e, cfg: cfg, ear: ef, cancels: map[uint64]context.CancelFunc{}}
	p.ds = sipgo.NewDialogServerCache(p.cli, e.contact(cfg.User, false))
	p.guard.live = func(req *sipgo_sip.Request) bool { _, err := p.ds.MatchDialogRequest(req); return err == nil }
	p.handle(sipgo_sip.INVITE, p.onInvite)
	p.handle(sipgo_sip.ACK, func(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) {
		p.onInDialogAck(req) // a re-INVITE's (reinvite_phone.go)
		_ = p.ds.ReadAck(req, tx)
	})
	p.handle(sipgo_sip.UPDATE, p.onInDialogOffer) // reinvite_phone.go
	p.handle(sipgo_sip.BYE, func(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) {
		if err := p.ds.ReadBye(req, tx); err != nil {
			respond(req, tx, 481)
		}
	})
	p.handle(sipgo_sip.INFO, p.onInfo)
	warnClearKeys(p.log, cfg.SRTP, cfg.Network)
	p.start()
	return p, nil
}

// Addr returns the SIP address the Phone listens on.
func (p *Phone) Addr() netip.AddrPort { return p.local }

// URI returns a SIP URI that reaches the Phone, e.g.
// "sip:127.0.0.1:5070;transport=tcp" or "sip:127.0.0.1:5071;transport=tls".
func (p *Phone) URI() string {
	u := "sip:" + p.local.String()
	if p.network != "udp" {
		u += ";transport=" + p.network
	}
	return u
}

// String describes the phone.
func (p *Phone) String() string { return fmt.Sprintf("sip.Phone(%s %s)", p.network, p.local) }

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
	if !p.shut(func() {
		for _, c := range p.cancels {
			c()
		}
	}) {
		return nil
	}
	return p.endpoint.close()
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
	if to := req.To(); to != nil && to.Params.Has("tag") {
		p.onInDialogOffer(req, tx) // a re-INVITE (reinvite_phone.go)
		return
	}
	// Close cancels ctx: the call is registered (and counted in wg) under
	// the same lock as the check that the Phone is not closing.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		respond(req, tx, 503)
		return
	}
	p.wg.Add(1)
	p.next++
	id := p.next
	p.cancels[id] = cancel
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.cancels, id)
		p.mu.Unlock()
		p.wg.Done()
	}()

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
		respond(req, tx, 404)
		return
	}
	dlg, err := p.ds.ReadInvite(req, tx)
	if err != nil {
		pc.Outcome, pc.Err = PhoneFailed, err
		respond(req, tx, 400)
		return
	}
	defer dlg.Close()
	// The dialog's end (CANCEL, BYE) ends the call too.
	defer context.AfterFunc(dlg.Context(), cancel)()

	// Ring.
	if p.cfg.RingFor != 0 {
		if err := dlg.Respond(180, "Ringing", nil); err != nil {
			pc.Outcome, pc.Err = PhoneFailed, err
			return
		}
		ring, stop := after(p.cfg.RingFor)
		defer stop()
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
	body, neg, err := media.AnswerOffer(req.Body(), media.AnswerConfig{Addr: p.rtpAddr, Port: conn.LocalAddrPort().Port(), Codecs: p.cfg.Codecs, EventPT: p.cfg.EventPT, SRTP: p.cfg.SRTP})
	if err != nil {
		pc.Outcome, pc.Err, pc.Status = PhoneFailed, err, 488
		_ = dlg.Respond(488, "Not Acceptable Here", nil)
		return
	}
	pc.Codec, pc.EventPT, pc.SRTP, pc.Status = neg.Codec, neg.EventPT, neg.SRTP.Suite(), 200
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
	afterKeys := make(chan struct{}) // closed HangupAfterKeys after the keys
	if !p.cfg.Silent {
		sc := neg.SessionConfig()
		out := &sendCounter{PacketConn: conn}
		sc.Conn, sc.Pacer, sc.Logger = out, p.pacer, p.log
		var heard *ear
		if p.ear != nil {
			heard = newEar(p.ear, neg.Codec)
			sc.Conn = &earConn{sendCounter: out, from: neg.Remote, ear: heard}
		}
		if p.cfg.Hear != nil { // phone_hear.go
			hr, err := newHearing(p.cfg.Hear(pc), neg)
			if err != nil {
				pc.Outcome, pc.Err = PhoneFailed, err
				p.bye(dlg)
				return
			}
			sc.Conn = &hearConn{PacketConn: sc.Conn, hr: hr}
			p.hearings.Store(pc.CallID, hr)
			defer func() {
				p.hearings.Delete(pc.CallID)
				hr.end()
			}()
		}
		if sess, err = media.NewSession(sc); err != nil {
			pc.Outcome, pc.Err = PhoneFailed, err
			p.bye(dlg)
			return
		}
		defer sess.Close()
		keysDone = make(chan string, 1)
		go func() {
			sent := p.pressKeys(ctx, dlg, sess, out, heard)
			if p.cfg.QuietAfterKeys {
				sess.Close()
			}
			keysDone <- sent
			if p.cfg.HangupAfterKeys > 0 && sleepCtx(ctx, p.cfg.HangupAfterKeys) {
				close(afterKeys)
			}
		}()
	}
	// In-dialog offers and holds (reinvite_phone.go).
	dm := newDialogMedia(log, sess, body, req.Body(), neg, p.cfg.Codecs, false, req.CSeq().SeqNo)
	defer p.addDialog(pc.CallID, &phoneDialog{dm: dm, done: ctx.Done()})()
	holdDone := make(chan struct{})
	var heard int64
	go func() {
		defer close(holdDone)
		if p.cfg.HoldAfter > 0 {
			pc.Holds, heard = p.holdCall(ctx, dlg, dm, sess)
		}
	}()
	hang, stop := after(p.cfg.HangupAfter)
	defer stop()
	select {
	case <-ctx.Done():
		pc.Outcome = PhoneCallerHungUp
		if p.closed.Load() {
			p.bye(dlg)
			pc.Outcome = PhoneHungUp
		}
	case <-hang:
		pc.Outcome = PhoneHungUp
		p.bye(dlg)
	case <-afterKeys:
		pc.Outcome = PhoneHungUp
		p.bye(dlg)
	}
	cancel()
	if keysDone != nil {
		pc.KeysSent = <-keysDone
	}
	<-holdDone
	if pc.Holds > 0 && sess != nil {
		pc.HeardAfterResume = sess.Stats().PacketsReceived - heard
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

// pressKeys presses the configured keys and returns those sent. In place
// of CodeKeys it presses the digits of the latest code heard since its
// previous key (waiting for one to be read out), as a person who listens
// to the code would.
func (p *Phone) pressKeys(ctx context.Context, dlg *sipgo.DialogServerSession, sess *media.Session, out *sendCounter, heard *ear) string {
	keys, _ := phoneKeys(p.cfg.Keys)
	if len(keys) == 0 {
		return ""
	}
	wait := func(d time.Duration) bool { return sleepCtx(ctx, d) }
	if !wait(p.cfg.KeyDelay) {
		return ""
	}
	var sent strings.Builder
	press := func(k dtmf.Key, first bool) bool {
		if !first && !wait(p.cfg.KeyGap) {
			return false
		}
		if p.cfg.KeyMode == KeySIPInfo {
			return p.pressInfo(ctx, dlg, k, &sent)
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
				p.log.Info("phone key not sent", "err", err) // the key unnamed: it may be a code's digit
			}
			return false
		}
		sent.WriteByte(byte(k))
		return true
	}
	mark := 0 // codes heard before the previous key
	for i, k := range keys {
		if k != 0 {
			if !press(k, i == 0) {
				break
			}
			mark = heard.count()
			continue
		}
		code, n, err := heard.codeAfter(ctx, mark)
		if err != nil {
			break
		}
		ok := true
		for j := range len(code) {
			if ok = press(dtmf.Key(code[j]), i == 0 && j == 0); !ok {
				break
			}
		}
		if !ok {
			break
		}
		mark = n
	}
	return sent.String()
}

// pressInfo presses k as a SIP INFO request and holds it for
// KeyDuration, as a finger would; it reports whether the Phone may go on.
// The key counts as sent once the request went out.
func (p *Phone) pressInfo(ctx context.Context, dlg *sipgo.DialogServerSession, k dtmf.Key, sent *strings.Builder) bool {
	dur := p.cfg.KeyDuration
	out, err := sendInfoKey(ctx, dlg, k, dur)
	if out {
		sent.WriteByte(byte(k))
	}
	if err != nil {
		if ctx.Err() == nil {
			p.log.Info("phone key not sent", "err", err) // the key unnamed: it may be a code's digit
		}
		return false
	}
	hold, stop := after(dur)
	defer stop()
	select {
	case <-hold:
		return true
	case <-ctx.Done():
		return false
	}
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

// after returns a channel that receives once d has passed, or nil (never)
// when d is not positive, and the func that stops its timer.
func after(d time.Duration) (<-chan time.Time, func() bool) {
	if d <= 0 {
		return nil, func() bool { return false }
	}
	t := time.NewTimer(d)
	return t.C, t.Stop
}
