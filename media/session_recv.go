package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// The receiving side of a Session. Two readers take datagrams from the
// socket: the pacer's walk for a socket it can read without blocking
// (receiveTick), a goroutine of the session's own for any other
// (readLoop). Both hand each read to readStep, which does everything
// else: the datagram is parsed once (ParseDatagram), its source checked
// or latched, RTP fed to the Receiver, failures counted, and quiet
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
// telephone-event; with none negotiated there is no twin to wait for.
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
	// strayLogInterval rate-limits the stray-source log of one session.
	strayLogInterval = 10 * time.Second
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
	readOn   readNext = iota // a datagram was taken, or a failed read counted: read again
	readNone                 // nothing was waiting: look for idleness, then wait
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
// ending is readEnd. Any other failure is counted (Stats.ReadErrors); a
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
	return readOn, nil
}

func (s *Session) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// handleDatagram takes one datagram, parsed once: RTP from the far end goes to
// the Receiver; RTCP and payload types not negotiated are ignored before
// latching, garbage and stray sources are counted and dropped.
func (s *Session) handleDatagram(b []byte, from netip.AddrPort) {
	class, payload := ParseDatagram(&s.rxHdr, b)
	switch class {
	case ClassOther:
		s.garbage.Add(1)
		return
	case ClassRTCP: // multiplexed on the RTP port (RFC 5761 §4); not read
		s.ignore.Add(1)
		return
	}
	if !s.fromFarEnd(netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), s.rxHdr.PayloadType) {
		return
	}
	s.recvd.Add(1)
	s.recvdBytes.Add(int64(len(b)))
	s.recv.handle(&s.rxHdr, payload) // its errors are counted in the stream's stats
}

// fromFarEnd checks the source of an RTP packet of payload type pt. The
// first packet that comes from the SDP address, or from anywhere with a
// payload type in Receive, latches its source, and RTP is sent there from
// then on (symmetric RTP); packets before it that do neither are ignored.
// After latching only the latched source is accepted: other sources are
// counted as stray and logged at most every strayLogInterval.
func (s *Session) fromFarEnd(from netip.AddrPort, pt uint8) bool {
	if s.latched.Load() {
		if from == s.source {
			return true
		}
		s.stray.Add(1)
		s.logStray(from)
		return false
	}
	if from != s.sdp && s.receive[pt] == KindUnknown {
		s.ignore.Add(1)
		return false
	}
	s.source = from
	s.latched.Store(true)
	if from != s.sdp {
		s.mu.Lock()
		s.remote = from
		s.mu.Unlock()
		s.log.Info("media: far end sends from another address than its SDP said; sending there (symmetric RTP)",
			"local", s.local, "sdp", s.sdp, "source", from)
	}
	return true
}

func (s *Session) logStray(from netip.AddrPort) {
	now := s.now()
	if !s.strayAt.IsZero() && now.Sub(s.strayAt) < strayLogInterval {
		return
	}
	n := s.stray.Load()
	s.log.Warn("media: dropping RTP from an unexpected source", "local", s.local, "source", from,
		"latched", s.source, "dropped_since_last_log", n-s.strayLast)
	s.strayAt, s.strayLast = now, n
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
// it on. Under rxMu.
func (s *Session) deliverKey(k Key) {
	k.Began = s.now().Add(-samplesToDuration(k.End - k.Start))
	s.cfg.KeySink.HandleKey(k)
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
