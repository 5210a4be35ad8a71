package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"denwa/audio"
	"denwa/dtmf"

	"github.com/pion/rtp"
)

// KeyMode says how Session.SendKey sends a key.
type KeyMode uint8

const (
	// Inband mixes the key's tone pair (ITU-T Q.23) into the audio.
	Inband KeyMode = iota + 1
	// RFC4733 sends telephone-event packets in place of audio frames.
	RFC4733
)

// String returns "in-band", "RFC 4733" or "KeyMode(n)".
func (m KeyMode) String() string {
	switch m {
	case Inband:
		return "in-band"
	case RFC4733:
		return "RFC 4733"
	}
	return fmt.Sprintf("KeyMode(%d)", uint8(m))
}

// Defaults for SessionConfig.
const (
	DefaultMediaTimeout = 10 * time.Second
	DefaultKeyBuffer    = 16
)

// In-band key presses: the low tone at −10 dBm0, the high tone 2 dB
// louder (the usual positive twist of a telephone set), and 60 ms of
// silence after each press so that two presses of the same key stay two
// (ITU-T Q.24 asks for at least 40 ms between them).
const (
	keyLevel = -10.0
	keyTwist = 2.0
	keyGap   = 60 * dtmf.SampleRate / 1000
)

// maxDatagram bounds what the read loop accepts; RTP for G.711 at 20 ms
// is 172 bytes.
const maxDatagram = 2048

// SessionConfig configures a Session. The negotiated fields (Remote,
// Codec, PayloadType, EventPT, Receive) usually come from
// Answer.SessionConfig. Zero values are documented per field.
type SessionConfig struct {
	// Conn is the session's RTP socket. Required. The session owns it from
	// NewSession on (even when NewSession fails) and closes it when it
	// ends, which gives a PortPool port back.
	Conn PacketConn
	// Remote is where to send RTP, from the far end's SDP. Required.
	// Symmetric RTP may move it: see Session.
	Remote netip.AddrPort
	// Codec is the audio codec sent, KindPCMU or KindPCMA. Required.
	Codec PayloadKind
	// PayloadType is the payload type to send audio with; zero means the
	// codec's static one (0 for PCMU, 8 for PCMA).
	PayloadType uint8
	// EventPT is the payload type to send telephone-events with; zero
	// means none was negotiated (SendKey with RFC4733 then fails).
	EventPT uint8
	// Receive maps the payload types accepted from the far end (our
	// offer's map, see Answer.Receive). The zero value means 0 = PCMU,
	// 8 = PCMA, plus PayloadType and EventPT.
	Receive PayloadTypes
	// Pacer sends this session's frames together with other sessions'.
	// Nil gives the session a private Pacer (one goroutine at normal
	// priority, see PacerConfig), closed with it.
	Pacer *Pacer
	// MediaTimeout ends the session with ErrMediaTimeout when no RTP
	// arrives from the far end for this long (counted from NewSession).
	// Zero means DefaultMediaTimeout (10 s); negative disables it.
	MediaTimeout time.Duration
	// KeyBuffer is the capacity of the Keys channel; keys that find it
	// full are dropped and counted. Zero means DefaultKeyBuffer (16).
	KeyBuffer int
	// Receiver tunes the key detection (detector, RFC 4733 decoder, gap
	// handling). Its PayloadTypes, Src, Dst and Now are set by the session,
	// and Early is always on: keys are reported when they go down.
	Receiver ReceiverConfig
	// Now is the clock for the media timeout and rate-limited logs. Nil
	// means time.Now; the pacer's tick time is then used, so that the
	// packet path reads no clock.
	Now func() time.Time
	// Logger receives the session's rare messages (symmetric-RTP latching,
	// stray sources, the end of the session). Nil discards them.
	Logger *slog.Logger
}

// idleCheck is how often a session's read loop looks for a far end that
// has gone quiet (see Receiver.Idle).
const idleCheck = 100 * time.Millisecond

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

func hasKind(p PayloadTypes, k PayloadKind) bool {
	for _, v := range p {
		if v == k {
			return true
		}
	}
	return false
}

// SessionStats counts a session's packets. Pacing (late and skipped
// ticks, pacing error) is per Pacer: see Pacer.Stats.
type SessionStats struct {
	PacketsSent, BytesSent int64 // RTP packets and their bytes (header included)
	// PacketsReceived and BytesReceived count RTP accepted from the far
	// end (after latching, from the latched source only).
	PacketsReceived, BytesReceived int64
	Garbage                        int64 // datagrams that are not RTP
	Stray                          int64 // RTP from a source other than the latched one, dropped
	Ignored                        int64 // before latching: RTCP and payload types not negotiated
	SendErrors, ReadErrors         int64
	KeysDropped                    int64 // keys that found the Keys channel full
	// Remote is where RTP goes now; Latched reports that the far end's
	// source address is known (symmetric RTP).
	Remote  netip.AddrPort
	Latched bool
}

// Session is the media side of one call: it sends G.711 audio (prompts,
// silence in between, key presses for the phone simulator) in 20 ms
// frames paced by a Pacer, and receives the far end's RTP into a Receiver
// whose keys come out of Keys.
//
// Sending. The stream has a random SSRC, starting sequence number and
// timestamp (RFC 3550 §5.1). A frame goes out every 20 ms from the start
// of the session to its end: prompt frames while Play runs, silence
// otherwise, so timestamps advance by 160 a packet without gaps, NAT
// bindings stay open and the far end's own media timeout stays quiet.
// Because silence is sent, not suppressed, the marker bit (RFC 3551 §4.1)
// is set on the first packet of the stream and on the first audio packet
// after telephone-events, the only places where the audio timeline has a
// hole; a prompt starting is not a talkspurt boundary on the wire. An
// RFC 4733 press replaces the audio frames during the press, pausing any
// prompt; its events carry the timestamp of the press's first frame, and
// audio resumes with the timestamp the stream would have had
// (RFC 4733 §2.5.1).
//
// Receiving. On Linux the Pacer reads the session's UDP socket itself:
// right after a slot's sends, each of its sessions takes what arrived
// since its last turn with non-blocking reads (at most maxReadsPerTick),
// so a thousand calls cost no goroutine, no poller wake-up and no
// scheduling per received packet, and a key is seen at most one tick
// (20 ms) after its packet arrived. Other sockets (the in-memory ones of
// tests, other platforms) get one read goroutine each. The first RTP
// packet that comes from the SDP address, or from anywhere with
// a payload type in Receive, latches the source (symmetric RTP, in the
// spirit of RFC 4961): from then on RTP is sent to the address it really
// came from, and datagrams from any other address are dropped and
// counted, so a stray source cannot take the stream over. Datagrams that
// are not RTP are counted and dropped.
//
// A session ends when Close is called, when no RTP arrives for
// MediaTimeout (Err is then ErrMediaTimeout), or when its Pacer is closed.
// Done is closed then; Play and SendKey return Err.
type Session struct {
	cfg      SessionConfig
	sdp      netip.AddrPort // Remote from the config, unmapped
	ssrc     uint32
	conn     PacketConn
	local    netip.AddrPort
	pacer    *Pacer
	ownPacer bool
	log      *slog.Logger
	timeout  time.Duration
	pt       uint8
	eventPT  uint8
	receive  PayloadTypes

	keys    chan Key
	done    chan struct{}
	endOnce sync.Once
	wg      sync.WaitGroup
	playSem chan struct{}
	keySem  chan struct{}

	mu     sync.Mutex // guards what follows, up to the pacer-owned fields
	err    error
	ended  bool
	remote netip.AddrPort
	play   *playback
	press  *keyPress
	// Send state: changed under mu by the pacer's walk only.
	seq      uint16
	ts       uint32 // timestamp of the next frame
	markNext bool
	hdr      rtp.Header
	pcm      [FrameSamples]int16
	mix      [FrameSamples]byte
	evbuf    [dtmf.EventPayloadLen]byte
	silence  [FrameSamples]byte

	// Owned by the pacer goroutine.
	pkt    []byte // the packet being sent; one buffer for the session's life
	rxSeen int64
	rxAt   time.Time

	// The receive side: owned by the read goroutine, or, for a polled
	// session, guarded by rxMu (the pacer's walk reads, end flushes).
	pr        pollReader // non-nil: the pacer reads the socket (polled)
	rxMu      sync.Mutex
	rxDone    bool // polled: the receiver was flushed at the end
	rxLast    time.Time
	idleAt    time.Time
	rxFail    int
	recv      *Receiver
	source    netip.AddrPort
	strayAt   time.Time
	strayLast int64

	latched                atomic.Bool
	sent, sentBytes        atomic.Int64
	recvd, recvdBytes      atomic.Int64
	garbage, stray, ignore atomic.Int64
	sendErrs, readErrs     atomic.Int64
	keysDropped            atomic.Int64
}

// playback is one Play call in progress.
type playback struct {
	frames [][]byte
	next   int
	done   chan struct{}
}

// keyPress is one SendKey call in progress.
type keyPress struct {
	mode    KeyMode
	tone    dtmf.Tone // in-band
	pos     int       // in-band: samples of tone sent
	events  []dtmf.EventPacket
	i       int    // RFC 4733: packets sent
	base    uint32 // RFC 4733: timestamp of the press's first frame
	started bool
	done    chan struct{}
}

// NewSession starts a session: it registers with the pacer (the first
// frame goes out at the next tick) and starts the read goroutine. On
// error cfg.Conn is closed.
func NewSession(cfg SessionConfig) (*Session, error) {
	s, err := newSession(cfg)
	if err != nil {
		if cfg.Conn != nil {
			cfg.Conn.Close()
		}
		return nil, err
	}
	return s, nil
}

func newSession(cfg SessionConfig) (*Session, error) {
	if cfg.Conn == nil {
		return nil, fmt.Errorf("%w: session needs a Conn", ErrConfig)
	}
	if !cfg.Remote.IsValid() || cfg.Remote.Port() == 0 {
		return nil, fmt.Errorf("%w: session needs a remote address and port, not %v", ErrConfig, cfg.Remote)
	}
	if cfg.Codec != KindPCMU && cfg.Codec != KindPCMA {
		return nil, fmt.Errorf("%w: session codec %s is not PCMU or PCMA", ErrConfig, cfg.Codec)
	}
	pt := cfg.PayloadType
	if pt == 0 {
		pt = staticPT(cfg.Codec)
	}
	if pt > 127 || cfg.EventPT > 127 || (cfg.EventPT != 0 && cfg.EventPT == pt) {
		return nil, fmt.Errorf("%w: payload types %d (audio) and %d (events)", ErrConfig, pt, cfg.EventPT)
	}
	if cfg.KeyBuffer < 0 {
		return nil, fmt.Errorf("%w: KeyBuffer %d is negative", ErrConfig, cfg.KeyBuffer)
	}
	s := &Session{
		cfg:     cfg,
		conn:    cfg.Conn,
		local:   cfg.Conn.LocalAddrPort(),
		log:     cfg.Logger,
		timeout: cfg.MediaTimeout,
		pt:      pt,
		eventPT: cfg.EventPT,
		receive: cfg.Receive,
		keys:    make(chan Key, cmpOr(cfg.KeyBuffer, DefaultKeyBuffer)),
		done:    make(chan struct{}),
		playSem: make(chan struct{}, 1),
		keySem:  make(chan struct{}, 1),
		sdp:     netip.AddrPortFrom(cfg.Remote.Addr().Unmap(), cfg.Remote.Port()),
		seq:     uint16(rand.Uint32()),
		ts:      rand.Uint32(),
		// The first packet of the stream starts a talkspurt.
		markNext: true,
		pkt:      make([]byte, 12+FrameSamples),
	}
	s.remote = s.sdp
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.timeout == 0 {
		s.timeout = DefaultMediaTimeout
	}
	if s.receive == (PayloadTypes{}) {
		s.receive = DefaultPayloadTypes()
		s.receive[pt] = cfg.Codec
		if cfg.EventPT != 0 {
			s.receive[cfg.EventPT] = KindTelephoneEvent
		}
	}
	s.ssrc = rand.Uint32()
	s.hdr = rtp.Header{Version: 2, PayloadType: pt, SSRC: s.ssrc}
	var zero [FrameSamples]int16
	if cfg.Codec == KindPCMU {
		audio.EncodeULawTo(s.silence[:], zero[:])
	} else {
		audio.EncodeALawTo(s.silence[:], zero[:])
	}
	s.rxAt = s.now()

	rc := cfg.Receiver
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
		rc.Now = cfg.Now
	}
	recv, err := NewReceiver(rc, KeySinkFunc(s.pushKey))
	if err != nil {
		return nil, err
	}
	s.recv = recv

	// A socket the pacer can read without blocking is read by its walk:
	// no goroutine and no wake-up per packet.
	if pr, ok := cfg.Conn.(pollReader); ok && pr.pollable() {
		s.pr = pr
		s.rxLast, s.idleAt = s.rxAt, s.rxAt
	}
	s.pacer = cfg.Pacer
	if s.pacer == nil {
		s.pacer, s.ownPacer = NewPacer(PacerConfig{Logger: cfg.Logger, Shards: 1, NormalPriority: true}), true
	}
	if err := s.pacer.add(s); err != nil {
		if s.ownPacer {
			s.pacer.Close()
		}
		return nil, err
	}
	if s.pr == nil {
		s.wg.Add(1)
		go s.readLoop()
	}
	return s, nil
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func (s *Session) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// String describes the session, e.g.
// "media.Session(127.0.0.1:30000 → 127.0.0.1:30002 PCMU/0 te=101 ssrc=0x1234abcd)".
func (s *Session) String() string {
	s.mu.Lock()
	remote := s.remote
	s.mu.Unlock()
	return fmt.Sprintf("media.Session(%s → %s %s/%d te=%d ssrc=%#08x)", s.local, remote, s.cfg.Codec, s.pt, s.eventPT, s.ssrc)
}

// SSRC returns the SSRC of the stream the session sends.
func (s *Session) SSRC() uint32 { return s.ssrc }

// LocalAddr returns the address of the session's socket.
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// Keys returns the keys the far end pressed, each once, in order. The
// channel is never closed: select on Done as well. Keys still sounding
// when the session ends are flushed into it by the read goroutine after
// Done is closed and before Close returns: drain Keys after Close to see
// them all.
func (s *Session) Keys() <-chan Key { return s.keys }

// Done is closed when the session ends.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended (ErrSessionClosed after Close,
// ErrMediaTimeout, ErrPacerClosed, or a socket error), nil while it runs.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stats returns the session's counters.
func (s *Session) Stats() SessionStats {
	s.mu.Lock()
	remote := s.remote
	s.mu.Unlock()
	return SessionStats{
		PacketsSent: s.sent.Load(), BytesSent: s.sentBytes.Load(),
		PacketsReceived: s.recvd.Load(), BytesReceived: s.recvdBytes.Load(),
		Garbage: s.garbage.Load(), Stray: s.stray.Load(), Ignored: s.ignore.Load(),
		SendErrors: s.sendErrs.Load(), ReadErrors: s.readErrs.Load(),
		KeysDropped: s.keysDropped.Load(),
		Remote:      remote, Latched: s.latched.Load(),
	}
}

// Close ends the session: it leaves the pacer, closes the socket (giving
// its port back), waits for the read goroutine, and closes a private
// pacer. It is idempotent and returns nil.
func (s *Session) Close() error {
	s.end(ErrSessionClosed)
	s.wg.Wait()
	if s.ownPacer {
		s.pacer.Close()
	}
	return nil
}

// end ends the session once, from any goroutine (the pacer's walk
// included): it never waits for the read goroutine.
func (s *Session) end(err error) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.ended, s.err = true, err
		s.play, s.press = nil, nil
		s.mu.Unlock()
		s.pacer.remove(s)
		s.conn.Close()
		close(s.done)
		if s.pr != nil {
			s.flushPolled()
		}
		if err != ErrSessionClosed {
			s.log.Info("media: session ended", "local", s.local, "remote", s.sdp, "err", err)
		}
	})
}

// flushPolled reports the keys still sounding in a polled session's
// receiver, once; a walk reading the session finishes first.
func (s *Session) flushPolled() {
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	if !s.rxDone {
		s.rxDone = true
		s.recv.Flush()
	}
}

// Play sends frames, 20 ms of G.711 each (160 bytes, already in the
// session's codec), one per tick, and returns when the last one has been
// sent. The frames are read, never modified, and not retained after Play
// returns: they may be shared read-only slices of a prompt catalog.
//
// Cancelling ctx stops the prompt at the next tick (barge-in) and returns
// ctx.Err(); silence follows. If the session ends first, Play returns
// Err. Concurrent Play calls take turns.
func (s *Session) Play(ctx context.Context, frames [][]byte) error {
	for i, f := range frames {
		if len(f) != FrameSamples {
			return fmt.Errorf("%w: frame %d has %d bytes", ErrBadFrame, i, len(f))
		}
	}
	if err := s.acquire(ctx, s.playSem); err != nil {
		return err
	}
	defer func() { <-s.playSem }()
	pb := &playback{frames: frames, done: make(chan struct{})}
	s.mu.Lock()
	if s.ended {
		defer s.mu.Unlock()
		return s.err
	}
	if len(frames) == 0 {
		s.mu.Unlock()
		return nil
	}
	s.play = pb
	s.mu.Unlock()
	select {
	case <-pb.done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		finished := pb.next == len(pb.frames)
		if s.play == pb {
			s.play = nil
		}
		s.mu.Unlock()
		if finished {
			return nil
		}
		return ctx.Err()
	case <-s.done:
		return s.Err()
	}
}

// SendKey presses key for duration (rounded to whole samples; at least
// 1 ms) and returns when the press has been sent. Inband mixes the tone
// pair into the outgoing audio (into a prompt, if one plays) and follows
// it with 60 ms of silence; RFC4733 sends telephone-event packets in
// place of audio (pausing a prompt): an update every 20 ms, the first
// with the marker bit, and the END packet three times (dtmf.GenerateEvent),
// which needs a negotiated EventPT (ErrNoTelephoneEvent otherwise).
// Cancelling ctx stops the press at the next tick and returns ctx.Err()
// (an RFC 4733 press then has no END: the far end ends it by timeout).
// Concurrent SendKey calls take turns. It is meant for the phone
// simulator and tests.
func (s *Session) SendKey(ctx context.Context, key dtmf.Key, mode KeyMode, duration time.Duration) error {
	if !key.Valid() {
		return fmt.Errorf("media: SendKey %q: %w", byte(key), dtmf.ErrInvalidKey)
	}
	samples := int64(duration) * dtmf.SampleRate / int64(time.Second)
	if samples < dtmf.SampleRate/1000 {
		return fmt.Errorf("%w: key press of %v is shorter than 1 ms", ErrConfig, duration)
	}
	p := &keyPress{mode: mode, done: make(chan struct{})}
	switch mode {
	case Inband:
		p.tone = dtmf.Tone{Key: key, Level: keyLevel, Twist: keyTwist, Duration: int(samples), Gap: keyGap}
	case RFC4733:
		if s.eventPT == 0 {
			return ErrNoTelephoneEvent
		}
		evs, err := dtmf.GenerateEvent(nil, key, 0, samples, dtmf.EventGenConfig{Interval: FrameSamples})
		if err != nil {
			return fmt.Errorf("media: SendKey: %w", err)
		}
		p.events = evs
	default:
		return fmt.Errorf("%w: key mode %v", ErrConfig, mode)
	}
	if err := s.acquire(ctx, s.keySem); err != nil {
		return err
	}
	defer func() { <-s.keySem }()
	s.mu.Lock()
	if s.ended {
		defer s.mu.Unlock()
		return s.err
	}
	s.press = p
	s.mu.Unlock()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		if s.press == p {
			s.press = nil
			if p.mode == RFC4733 && p.started {
				s.markNext = true
			}
		}
		s.mu.Unlock()
		return ctx.Err()
	case <-s.done:
		return s.Err()
	}
}

// acquire takes a one-slot semaphore, giving up when ctx is done or the
// session ends.
func (s *Session) acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return s.Err()
	}
}

// sendTick is the session's part of one pacer tick: it builds the next
// packet into the session's one buffer, sends it, and checks the media
// timeout. It reports whether a packet went out. It does not allocate.
func (s *Session) sendTick(now time.Time) bool {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	n := s.nextPacketLocked()
	to := s.remote
	s.mu.Unlock()
	sent := false
	if _, err := s.conn.WriteToUDPAddrPort(s.pkt[:n], to); err != nil {
		s.sendErrs.Add(1)
	} else {
		s.sent.Add(1)
		s.sentBytes.Add(int64(n))
		sent = true
	}
	s.checkTimeout(now)
	return sent
}

// nextPacketLocked writes the next packet into s.pkt and returns its
// length. Called with s.mu held, by the pacer's walk.
func (s *Session) nextPacketLocked() int {
	ts := s.ts
	s.ts += FrameSamples
	h := &s.hdr
	var payload []byte
	if p := s.press; p != nil && p.mode == RFC4733 {
		if !p.started {
			p.started, p.base = true, ts
		}
		ev := &p.events[p.i]
		h.PayloadType, h.Marker, h.Timestamp = s.eventPT, ev.Marker, p.base+uint32(ev.Timestamp)
		ev.Payload.MarshalTo(s.evbuf[:]) // 4 bytes; the volume is the generator's, in range
		payload = s.evbuf[:]
		if p.i++; p.i == len(p.events) {
			s.press = nil
			close(p.done)
			s.markNext = true // audio resumes after a hole in its timeline
		}
	} else {
		payload = s.silence[:]
		if pb := s.play; pb != nil {
			payload = pb.frames[pb.next]
			if pb.next++; pb.next == len(pb.frames) {
				s.play = nil
				close(pb.done)
			}
		}
		if p != nil { // in-band press: tone mixed into the frame
			if s.cfg.Codec == KindPCMU {
				audio.DecodeULawTo(s.pcm[:], payload)
				p.tone.AddTo(s.pcm[:], p.pos)
				audio.EncodeULawTo(s.mix[:], s.pcm[:])
			} else {
				audio.DecodeALawTo(s.pcm[:], payload)
				p.tone.AddTo(s.pcm[:], p.pos)
				audio.EncodeALawTo(s.mix[:], s.pcm[:])
			}
			payload = s.mix[:]
			if p.pos += FrameSamples; p.pos >= p.tone.Len() {
				s.press = nil
				close(p.done)
			}
		}
		h.PayloadType, h.Marker, h.Timestamp = s.pt, s.markNext, ts
		s.markNext = false
	}
	h.SequenceNumber = s.seq
	s.seq++
	n, _ := h.MarshalTo(s.pkt) // 12 bytes: no CSRC, no extension
	return n + copy(s.pkt[n:], payload)
}

// checkTimeout ends the session when nothing has been received for the
// media timeout. Pacer goroutine only; it reads the clock only when Now
// was injected.
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

// pushKey is the Receiver's KeySink: it never blocks the read loop.
func (s *Session) pushKey(k Key) {
	select {
	case s.keys <- k:
	default:
		s.keysDropped.Add(1)
	}
}

// maxReadsPerTick bounds the datagrams a polled session takes in one
// tick. A far end sends one every 20 ms, a few at once after a hiccup in
// the network; a flood waits in the socket's buffer (and overflows it)
// rather than stall the walk that paces every other call.
const maxReadsPerTick = 8

// receiveTick is a polled session's receive side of one pacer tick: it
// takes what the far end sent since the last tick from the socket,
// without blocking, into buf (the pacer's), and tells the receiver when
// the far end has gone quiet for idleCheck (Receiver.Idle). Pacer
// goroutine only.
func (s *Session) receiveTick(now time.Time, buf []byte) {
	if s.cfg.Now != nil {
		now = s.cfg.Now()
	}
	s.rxMu.Lock()
	if s.rxDone {
		s.rxMu.Unlock()
		return
	}
	var fatal error
	got := false
	for range maxReadsPerTick {
		n, from, err := s.pr.tryRead(buf)
		if err == errWouldBlock || errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			s.mu.Lock()
			ended := s.ended // a walk may visit a session just ended
			s.mu.Unlock()
			if ended {
				break
			}
			s.readErrs.Add(1)
			if s.rxFail++; errors.Is(err, net.ErrClosed) || s.rxFail > 100 {
				fatal = fmt.Errorf("media: reading RTP on %s: %w", s.local, err)
			}
			break
		}
		s.rxFail = 0
		got = true
		s.handle(buf[:n], from)
	}
	if got {
		s.rxLast = now
	} else if s.recvd.Load() > 0 && now.Sub(s.rxLast) >= idleCheck && now.Sub(s.idleAt) >= idleCheck {
		s.recv.Idle(now.Sub(s.rxLast))
		s.idleAt = now
	}
	s.rxMu.Unlock()
	if fatal != nil {
		s.end(fatal)
	}
}

// readLoop is the receive goroutine of a session whose socket cannot be
// polled (an in-memory one in tests, a platform without non-blocking
// reads).
func (s *Session) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, maxDatagram)
	failures := 0
	// Every idleCheck the loop looks whether anything arrived; when nothing
	// did for a whole period, the Receiver is told (Receiver.Idle), so that
	// a key is not held back by a far end that stops sending in silence.
	// One deadline per period, none per packet.
	seen, idleSince := int64(-1), time.Time{}
	s.conn.SetReadDeadline(time.Now().Add(idleCheck))
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			s.mu.Lock()
			ended := s.ended // set before end closes the socket
			s.mu.Unlock()
			if ended {
				s.recv.Flush()
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				now := time.Now()
				if got := s.recvd.Load(); got != seen {
					seen, idleSince = got, now
				} else if got > 0 {
					s.recv.Idle(now.Sub(idleSince) + idleCheck)
				}
				s.conn.SetReadDeadline(now.Add(idleCheck))
				continue
			}
			s.readErrs.Add(1)
			if failures++; errors.Is(err, net.ErrClosed) || failures > 100 {
				s.end(fmt.Errorf("media: reading RTP on %s: %w", s.local, err))
				s.recv.Flush()
				return
			}
			continue
		}
		failures = 0
		s.handle(buf[:n], from)
	}
}

// handle takes one datagram on the read goroutine or, polled, under rxMu.
func (s *Session) handle(b []byte, from netip.AddrPort) {
	if !looksLikeRTP(b) {
		s.garbage.Add(1)
		return
	}
	if isRTCP(b) { // multiplexed on the RTP port (RFC 5761 §4)
		s.ignore.Add(1)
		return
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if !s.latched.Load() {
		if from != s.sdp && s.receive[b[1]&0x7f] == KindUnknown {
			s.ignore.Add(1)
			return
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
	} else if from != s.source {
		s.stray.Add(1)
		s.logStray(from)
		return
	}
	s.recvd.Add(1)
	s.recvdBytes.Add(int64(len(b)))
	if err := s.recv.HandlePacket(b); errors.Is(err, ErrNotRTP) {
		s.garbage.Add(1)
	}
}

// strayLogInterval rate-limits the stray-source log of one session.
const strayLogInterval = 10 * time.Second

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

// looksLikeRTP checks the fixed header of RFC 3550 §5.1: version 2, and
// the CSRC list, header extension and padding within the datagram.
func looksLikeRTP(b []byte) bool {
	if len(b) < 12 || b[0]>>6 != 2 {
		return false
	}
	end := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // extension
		if len(b) < end+4 {
			return false
		}
		end += 4 + 4*int(binary.BigEndian.Uint16(b[end+2:]))
	}
	if end > len(b) {
		return false
	}
	if b[0]&0x20 != 0 { // padding
		pad := int(b[len(b)-1])
		if pad == 0 || end+pad > len(b) {
			return false
		}
	}
	return true
}
