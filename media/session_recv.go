package media

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"time"

	"denwa/dtmf"
)

// The receiving side of a Session. Two readers take datagrams from the
// socket: the pacer's walk for a socket it can read without blocking
// (receiveTick), a goroutine of the session's own for any other
// (readLoop). Both hand each read to readStep, which does everything
// else: the datagram is parsed once (ParseDatagram), its source checked
// (or learned, see SessionConfig.Learn), RTP fed to the Receiver, failures counted, and quiet
// periods reported (checkIdle). The reader holds rxMu while it does.

// LiveMergeHold is how long a live session holds an in-band key for its
// RFC 4733 twin when telephone-event was negotiated: 20 ms, in timestamp
// units, on the stream's timeline from the key's End, which for a live
// session (ReceiverConfig.Early) is where the detector accepted the tone,
// 32–38 ms into it. Captures keep dtmf's longer default.
//
// The hold decides which sighting of a press is reported, never how many
// keys: an RFC 4733 twin that comes after the in-band key was released is
// dropped as the twin of a key already reported (dtmf.Merger). Reported at
// its first packet, the twin is normally there first: a sender stamps its
// event at key-down and sends that packet 0–20 ms into the press, before
// the detector has 32 ms of tone. The hold is for a gateway that detects
// the tone itself and stamps its event when it did (25–40 ms in): its
// first packet comes about when our detector accepts the tone, up to a
// packet interval later. The key is released with the first packet that
// ends at least 20 ms after its End, so the twin has 20–40 ms. The cost is
// one packet of latency for in-band keys on calls that negotiated
// telephone-event, and only with the jitter buffer off: the buffer holds
// the audio at least as long (40 ms by default), so the stream is past
// End+20 ms when the detector reports the key. With no telephone-event
// negotiated there is no twin to wait for.
const LiveMergeHold = 160

const (
	// maxDatagram bounds what a read accepts; RTP for G.711 at 20 ms is
	// 172 bytes.
	maxDatagram = 2048
	// maxReadsPerTick bounds the datagrams a polled session takes in one
	// tick. A far end sends one every 20 ms, a few at once after a hiccup
	// in the network; a flood waits in the socket's buffer (and overflows
	// it) rather than stall the walk that paces every other call.
	maxReadsPerTick = 8
	// maxReadFailures is how many reads in a row may fail before the
	// session ends with the error.
	maxReadFailures = 100
	// idleCheck is how often a reader looks for a far end that has gone
	// quiet (see checkIdle).
	idleCheck = 100 * time.Millisecond
	// strayLogInterval rate-limits the foreign-source log of one session.
	strayLogInterval = 10 * time.Second
	// maxDrain bounds the datagrams NewSession drops unread: a socket
	// buffer's worth of small datagrams. A flood that outlasts it goes
	// through the source check like anything later.
	maxDrain = 4096
)

// receiverConfig completes SessionConfig.Receiver for a live session.
func (s *Session) receiverConfig() ReceiverConfig {
	rc := s.cfg.Receiver
	rc.PayloadTypes = s.receive
	rc.Src, rc.Dst = s.remote, s.local
	// Keys go out at key-down: the dialogue acts on a key, not on its end.
	rc.Early = true
	if rc.Merge.Hold == 0 {
		// On a live call a key's latency matters more than its label:
		// hold an in-band key only briefly for an RFC 4733 twin (which,
		// reported at its first packet, normally arrives first; see
		// LiveMergeHold). A twin that comes later anyway is still dropped,
		// as a twin of a key already released; and with no telephone-event
		// negotiated there is no twin to wait for at all.
		rc.Merge.Hold = LiveMergeHold
		if !hasKind(s.receive, KindTelephoneEvent) {
			rc.Merge.Hold = -1
			rc.NoGuess = true
		}
	}
	if rc.Now == nil {
		rc.Now = s.cfg.Now
	}
	return rc
}

func hasKind(p PayloadTypes, k PayloadKind) bool {
	for _, v := range p {
		if v == k {
			return true
		}
	}
	return false
}

// readNext is what a reader does after readStep.
type readNext uint8

const (
	readOn   readNext = iota // a datagram was taken: read again
	readNone                 // nothing was waiting, or a failed read counted: look for idleness, then wait
	readEnd                  // the session is ending or its socket failed: stop reading
)

// receiveTick is a polled session's receive side of one pacer tick: it
// takes what the far end sent since the last tick from the socket,
// without blocking, into buf (the pacer's). Pacer goroutine only.
func (s *Session) receiveTick(now time.Time, buf []byte) {
	if s.cfg.Now != nil {
		now = s.cfg.Now()
	}
	var fatal error
	s.rxMu.Lock()
	if !s.rxDone {
		for range maxReadsPerTick {
			n, from, err := s.pr.tryRead(buf)
			var next readNext
			if next, fatal = s.readStep(buf[:n], from, err); next != readOn {
				break
			}
		}
		s.checkIdle(now)
	}
	s.rxMu.Unlock()
	if fatal != nil {
		s.end(fatal)
	}
}

// readLoop is the receive goroutine of a session whose socket cannot be
// polled (an in-memory one in tests, a platform without non-blocking
// reads). The read deadline expires every idleCheck, whatever arrives:
// one deadline per period, none per packet.
func (s *Session) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, maxDatagram)
	s.conn.SetReadDeadline(time.Now().Add(idleCheck))
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		s.rxMu.Lock()
		if s.rxDone {
			s.rxMu.Unlock()
			return
		}
		next, fatal := s.readStep(buf[:n], from, err)
		if next == readNone {
			s.checkIdle(s.now())
			s.conn.SetReadDeadline(time.Now().Add(idleCheck))
		}
		s.rxMu.Unlock()
		if fatal != nil {
			s.end(fatal)
		}
		if next == readEnd {
			return
		}
	}
}

// readStep takes the result of one read of the socket, under rxMu: a
// datagram is handled (handleDatagram); a read that found nothing (errWouldBlock, the
// read deadline) is readNone; a read that failed because the session is
// ending is readEnd. Any other failure is counted (Stats.ReadErrors) and
// is readNone, so that a polled session tries once more a tick, not
// maxReadsPerTick times (maxReadFailures then spans as many ticks); a
// closed socket, or more than maxReadFailures failures in a row, returns
// the error to end the session with, which the caller does once it has
// let go of rxMu.
func (s *Session) readStep(b []byte, from netip.AddrPort, err error) (readNext, error) {
	switch {
	case err == nil:
		s.rxFail = 0
		s.handleDatagram(b, from)
		return readOn, nil
	case err == errWouldBlock: // every tick of a polled session: no lock
		return readNone, nil
	case s.isEnded(): // end sets ended before it closes the socket
		return readEnd, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return readNone, nil
	}
	s.readErrs.Add(1)
	if s.rxFail++; errors.Is(err, net.ErrClosed) || s.rxFail > maxReadFailures {
		return readEnd, fmt.Errorf("media: reading RTP on %s: %w", s.local, err)
	}
	return readNone, nil
}

func (s *Session) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// drain drops, unread, what the socket holds when the session starts: it
// arrived before the answer (see Session). At most maxDrain datagrams,
// without waiting: a socket the pacer polls is read until it would block;
// any other gets a read deadline already passed, so that it returns what
// it holds and then fails (an in-memory conn does; a real socket on a
// platform without polling fails at once, and only the key-timing rule
// protects it). Before the session's readers start.
func (s *Session) drain() {
	buf := s.pkt // not yet sending: a datagram cut to its size is dropped all the same
	n := int64(0)
	if s.pr != nil {
		for ; n < maxDrain; n++ {
			if _, _, err := s.pr.tryRead(buf); err != nil {
				break
			}
		}
	} else {
		s.conn.SetReadDeadline(time.Unix(1, 0))
		for ; n < maxDrain; n++ {
			if _, _, err := s.conn.ReadFromUDPAddrPort(buf); err != nil {
				break
			}
		}
		s.conn.SetReadDeadline(time.Time{})
	}
	s.drained.Add(n)
	s.countForeign(n)
}

// countForeign adds n to the foreign count shared with other sessions,
// if any.
func (s *Session) countForeign(n int64) {
	if s.cfg.Foreign != nil && n > 0 {
		s.cfg.Foreign.Add(n)
	}
}

// handleDatagram takes one datagram, parsed once: from the far end, RTP
// goes to the Receiver, RTCP is ignored and garbage counted; from anywhere
// else it is foreign (fromFarEnd). Under SRTP an RTP packet is
// authenticated and decrypted first (unprotect), so that nothing, a
// source to learn included, is taken from a packet the far end's key did
// not sign; SRTCP is ignored like RTCP.
func (s *Session) handleDatagram(b []byte, from netip.AddrPort) {
	class, payload := ParseDatagram(&s.rxHdr, b)
	if class == ClassRTP && s.srtp != nil {
		if b = s.unprotect(b); b == nil {
			return
		}
		class, payload = ParseDatagram(&s.rxHdr, b)
	}
	if !s.fromFarEnd(netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), class == ClassRTP) {
		return
	}
	switch class {
	case ClassOther:
		s.garbage.Add(1)
		return
	case ClassRTCP: // multiplexed on the RTP port (RFC 5761 §4); not read
		s.ignore.Add(1)
		return
	}
	s.recvd.Add(1)
	s.recvdBytes.Add(int64(len(b)))
	s.recv.handle(&s.rxHdr, payload) // its errors are counted in the stream's stats
}

// unprotect authenticates and decrypts an SRTP packet in place and
// returns the RTP packet, or nil, having counted it, when it fails
// authentication or is a replay. Under rxMu.
func (s *Session) unprotect(b []byte) []byte {
	out, err := s.srtp.unprotect(b)
	if err == nil {
		return out
	}
	if !isAuthFailure(err) {
		s.srtpReplay.Add(1)
		return nil
	}
	s.srtpAuth.Add(1)
	if s.cfg.SRTPAuthFailed != nil {
		s.cfg.SRTPAuthFailed.Add(1)
	}
	return nil
}

// fromFarEnd checks the source of a datagram, RTP or not (isRTP, its
// header in rxHdr). Media is accepted from s.source: the SDP address, or
// the source learned instead of it (SessionConfig.Learn), and RTP from the
// SDP address always takes the stream back there. Anything else is
// foreign: counted, and logged at most every strayLogInterval. Under rxMu.
func (s *Session) fromFarEnd(from netip.AddrPort, isRTP bool) bool {
	if from == s.source {
		if isRTP && !s.sdpHeard && from == s.sdp {
			s.sdpHeard = true // nothing is learned from now on
		}
		return true
	}
	if isRTP && from == s.sdp {
		// A source was learned, and now the SDP address sends: back to it,
		// for good.
		prev := s.source
		s.sdpHeard = true
		s.setSource(from, false)
		s.log.Info("media: the far end's SDP address sends; taking media from it again", "local", s.local, "sdp", s.sdp, "learned", prev)
		return true
	}
	if isRTP && s.learnFrom(from) {
		return true
	}
	s.foreign.Add(1)
	s.countForeign(1)
	s.logForeign(from)
	return false
}

// learnFrom counts an RTP packet from from, not the SDP address, towards
// learning its source, and reports whether that source was learned with
// it (see SessionConfig.Learn). Under rxMu.
func (s *Session) learnFrom(from netip.AddrPort) bool {
	h := &s.rxHdr
	if s.cfg.Learn <= 0 || s.sdpHeard || s.learned.Load() || s.keysFrom.Load() == math.MaxInt64 {
		return false // off, the SDP address sends, learned already, or not answered yet
	}
	if len(s.cfg.MediaNetworks) > 0 && !inNetworks(s.cfg.MediaNetworks, from.Addr()) {
		return false
	}
	if s.receive[h.PayloadType&0x7f] == KindUnknown {
		s.candN = 0
		return false
	}
	if from == s.cand && h.SSRC == s.candSSRC && h.SequenceNumber == s.candSeq+1 && s.candN > 0 {
		s.candN++
	} else {
		// Another source, SSRC or a gap: start counting again.
		s.cand, s.candSSRC, s.candN = from, h.SSRC, 1
	}
	s.candSeq = h.SequenceNumber
	if s.candN < s.cfg.Learn {
		return false
	}
	s.setSource(from, true)
	s.log.Info("media: far end sends from another address than its SDP said; learned it (symmetric RTP)",
		"local", s.local, "sdp", s.sdp, "source", from, "packets", s.candN, "ssrc", h.SSRC)
	return true
}

// setSource makes from where media is accepted from and sent to.
func (s *Session) setSource(from netip.AddrPort, learned bool) {
	s.source, s.candN = from, 0
	s.learned.Store(learned)
	s.mu.Lock()
	s.remote = from
	s.mu.Unlock()
}

func inNetworks(nets []netip.Prefix, a netip.Addr) bool {
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s *Session) logForeign(from netip.AddrPort) {
	now := s.now()
	if !s.strayAt.IsZero() && now.Sub(s.strayAt) < strayLogInterval {
		return
	}
	n := s.foreign.Load()
	s.log.Warn("media: dropping packets from a foreign source", "local", s.local, "source", from,
		"accepted", s.source, "dropped_since_last_log", n-s.strayLast)
	s.strayAt, s.strayLast = now, n
}

// Answered marks the instant of answer of an Early session (see Session):
// keys that begin after it go to the KeySink from now on, and a source may
// be learned. It does nothing for a session that was not Early, or was
// answered already.
func (s *Session) Answered() {
	if !s.cfg.Early {
		return
	}
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	if s.keysFrom.Load() == math.MaxInt64 {
		s.candN = 0 // what came before the answer does not count
		s.keysFrom.Store(s.now().UnixNano())
	}
}

// checkIdle tells the receiver when the far end has sent no RTP since the
// previous look, idleCheck or more ago (Receiver.Idle), so that a key is
// not held back by a far end that stops sending in silence. The quiet time
// is counted from the look that last saw a packet arrive: a polled
// session looks every tick, a read goroutine every idleCheck. Under rxMu.
func (s *Session) checkIdle(now time.Time) {
	if n := s.recvd.Load(); n != s.idleSeen {
		s.idleSeen, s.rxLast = n, now
		return
	}
	if s.idleSeen > 0 && now.Sub(s.rxLast) >= idleCheck && now.Sub(s.idleAt) >= idleCheck {
		s.recv.Idle(now.Sub(s.rxLast))
		s.idleAt = now
	}
}

// checkTimeout ends the session when nothing has been received for the
// media timeout. It runs in the pacer's walk after each send, for every
// session; it reads the clock only when Now was injected.
func (s *Session) checkTimeout(now time.Time) {
	if s.timeout < 0 {
		return
	}
	if s.cfg.Now != nil {
		now = s.cfg.Now()
	}
	if n := s.recvd.Load(); n != s.rxSeen {
		s.rxSeen, s.rxAt = n, now
		return
	}
	if now.Sub(s.rxAt) >= s.timeout {
		s.end(ErrMediaTimeout)
	}
}

// deliverKey is the Receiver's KeySink when SessionConfig.KeySink is set:
// it stamps the key with when it began on the session's clock and hands
// it on if it began after the instant of answer (see Session). The key
// began at now less the part of the stream heard since its Start: to its
// End, or for an in-band key to the newest audio, which the jitter buffer
// held. A SIP INFO key began when it arrived, and only needs to come after
// the instant of answer: a request in the dialog is no packet queued
// before it. Under rxMu.
func (s *Session) deliverKey(k Key) {
	k.Began = s.now()
	guard := int64(0)
	if k.Source != dtmf.SourceSIPInfo {
		heard := k.End
		if reached, ok := s.recv.reached(k.Stream.SSRC); ok && k.Source == dtmf.SourceInband {
			heard = max(heard, reached)
		}
		k.Began = k.Began.Add(-samplesToDuration(heard - k.Start))
		guard = int64(KeyGuard)
	}
	if k.Began.UnixNano()-guard < s.keysFrom.Load() || k.Source == dtmf.SourceInband && k.At < KeyGuard {
		s.keysRefused.Add(1)
		return
	}
	s.cfg.KeySink.HandleKey(k)
}

// OutOfBandKey takes a key the far end sent outside RTP, such as a SIP
// INFO request in the call's dialog (src dtmf.SourceSIPInfo), now, lasting
// dur (0 when unknown). It goes through the same merger as the stream's
// RFC 4733 and in-band keys (Receiver.OutOfBand), so that one press sent
// two or three ways gives one key, and then to the KeySink like them,
// with Began set to now: a request in the dialog came after the answer,
// whatever the press's length, and is not held to KeyGuard. The KeySink
// is called on the caller's goroutine, under the lock the receive path
// holds. It returns
// dtmf.ErrInvalidKey for an invalid key and ErrSessionClosed once the
// session has ended.
func (s *Session) OutOfBandKey(k dtmf.Key, src dtmf.Source, dur time.Duration) error {
	if !k.Valid() {
		return dtmf.ErrInvalidKey
	}
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	if s.rxDone {
		return ErrSessionClosed
	}
	s.recv.OutOfBand(k, src, int64(dur/(time.Second/dtmf.SampleRate)))
	return nil
}

// receiveStats returns the receiver's totals, under rxMu.
func (s *Session) receiveStats() StreamStats {
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	return s.recv.Totals()
}

// flushReceiver hands the keys still sounding to the sink, once, after the
// reader's current step; no reader touches the receiver after it.
func (s *Session) flushReceiver() {
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	if !s.rxDone {
		s.rxDone = true
		s.recv.Flush()
	}
}
