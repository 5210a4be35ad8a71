package media

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"denwa/audio"
	"denwa/dtmf"

	"github.com/pion/rtp"
)

// DefaultMediaTimeout is SessionConfig.MediaTimeout's default.
const DefaultMediaTimeout = 10 * time.Second

// SessionConfig configures a Session. The negotiated fields (Remote,
// Codec, PayloadType, EventPT, Receive) usually come from
// Answer.SessionConfig. Zero values are documented per field.
type SessionConfig struct {
	// Conn is the session's RTP socket. Required. The session owns it from
	// NewSession on (even when NewSession fails) and closes it when it
	// ends, which gives a PortPool port back.
	Conn PacketConn
	// Remote is the far end's RTP address from its SDP: where RTP is
	// sent, and the only source media is accepted from unless Learn
	// moves both (see Session). Required.
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
	// KeySink receives the keys the far end presses, each once, in the
	// order they become certain, with Key.Began set. It is called on the
	// session's receive path, one call at a time: from the pacer's walk
	// (a polled socket), from the session's read goroutine (any other),
	// or, for the keys still sounding when the session ends, from the
	// goroutine that ends it, before Done is closed and Close returns. It
	// must not block (the walk paces every session of its Pacer) and must
	// not call back into the Session. Nil drops the keys.
	KeySink KeySink
	// Receiver tunes the key detection (detector, RFC 4733 decoder, gap
	// handling). Its PayloadTypes, Src, Dst and Now are set by the session,
	// and Early is always on: keys are reported when they go down.
	Receiver ReceiverConfig
	// Now is the clock for the media timeout, the idle check, Key.Began
	// and rate-limited logs. Nil means time.Now, and then the pacer's walk
	// uses its tick's time for the media timeout and the idle check, so
	// that the packet path reads no clock; each key reads it once.
	Now func() time.Time
	// Logger receives the session's rare messages (a source learned or
	// given up, foreign sources at a rate limit, the end of the session).
	// Nil discards them.
	Logger *slog.Logger

	// Learn, when positive, lets a far end behind NAT send from another
	// address than its SDP said (symmetric RTP, RFC 4961's idea taken with
	// care): a source is learned once Learn packets in a row from it, one
	// SSRC with consecutive sequence numbers and a payload type in
	// Receive, have arrived after the answer, with no packet from another
	// candidate source between them; RTP is then accepted from it and
	// sent to it. Only one source is ever learned, only while Remote
	// itself has sent nothing, and the first RTP packet from Remote takes
	// the stream back to Remote for good. Zero: media only from Remote.
	Learn int
	// MediaNetworks, if not empty, bounds where media may come from: a
	// source outside every prefix is never learned, and a Remote outside
	// them fails NewSession. Zero: anywhere (Remote decides).
	MediaNetworks []netip.Prefix
	// Early marks a session started for early media (a 183's SDP): it
	// hands no key to KeySink until Answered is called.
	Early bool
	// Foreign, if not nil, counts the datagrams every session dropped as
	// foreign or drained at its start (SessionStats.Foreign + Drained)
	// on top of the session's own counts: a total for a metric, shared
	// by many sessions.
	Foreign *atomic.Int64
	// SRTP, when enabled (from Answer.SRTP), protects what the session
	// sends and unprotects what it receives (RFC 3711): a packet from the
	// far end that fails authentication or replays one already seen is
	// dropped and counted (Stats.SRTPAuthFailed, SRTPReplayed); RTCP
	// (SRTCP) is ignored as ever. Zero: plain RTP.
	SRTP SRTPKeys
	// SRTPAuthFailed, if not nil, counts the SRTP packets every session
	// dropped because they failed authentication
	// (SessionStats.SRTPAuthFailed): a total for a metric, shared by many
	// sessions. Replays are not in it: a far end's stack may resend a
	// packet as it was (oRTP, linphone's, sends RFC 4733's repeated END
	// packets with one sequence number).
	SRTPAuthFailed *atomic.Int64
}

// KeyGuard is how long after the instant of answer a key must begin to
// count (see Session, "Trusting the source").
const KeyGuard = 20 * time.Millisecond

// SessionStats counts a session's packets. Pacing (late and skipped
// ticks, pacing error) is per Pacer: see Pacer.Stats.
type SessionStats struct {
	PacketsSent, BytesSent int64 // RTP packets and their bytes (header included)
	// PacketsReceived and BytesReceived count RTP accepted from the far
	// end (the SDP address, or the source learned instead of it).
	PacketsReceived, BytesReceived int64
	Garbage                        int64 // datagrams from the far end that are neither RTP nor RTCP
	Ignored                        int64 // RTCP from the far end
	// Foreign counts the datagrams dropped because they came from a
	// source media is not accepted from, whatever they held (a learning
	// candidate's packets included); Drained those the socket held
	// when the session started, dropped unread (see Session).
	Foreign, Drained int64
	// KeysRefused counts keys the receiver found but the session did not
	// hand to its KeySink because they did not begin after the answer.
	KeysRefused int64
	// Receive totals the receiver's counters over the far end's streams
	// (StreamStats: loss, reordering, duplicates, late packets, concealed
	// audio, the jitter buffer's depth).
	Receive                StreamStats
	SendErrors, ReadErrors int64
	// SRTPAuthFailed counts SRTP packets from the far end dropped because
	// their authentication tag did not verify (tampered, or another key);
	// SRTPReplayed those dropped as replays (a packet resent as it was
	// included) or too short to hold a tag.
	SRTPAuthFailed, SRTPReplayed int64
	// Remote is where RTP goes now, and where it is accepted from;
	// Learned reports that this is a learned source, not the SDP's.
	Remote  netip.AddrPort
	Learned bool
}

// Session is the media side of one call: it sends G.711 audio (prompts,
// silence in between, key presses for the phone simulator) in 20 ms
// frames paced by a Pacer, and receives the far end's RTP into a Receiver
// whose keys go to SessionConfig.KeySink. The lifecycle is in session.go,
// the sender in session_send.go, the receiver in session_recv.go.
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
// tests, other platforms) get one read goroutine each. Either reader
// handles each datagram the same way. Datagrams that are neither RTP nor
// RTCP are counted and dropped.
//
// Trusting the source. Whoever can send UDP to the port could otherwise
// press keys for the far end (the RTP Bleed class, CVE-2017-14099), so:
//   - Media (audio and telephone-events) is accepted only from Remote,
//     the address and port of the far end's SDP, or from the one source
//     learned instead of it with SessionConfig.Learn, within
//     MediaNetworks. Datagrams from anywhere else are dropped and counted
//     (Stats.Foreign, SessionConfig.Foreign) and logged at most every
//     10 s. Learning is weaker by nature: a party that reaches the port
//     with Learn packets in a row before the far end's first packet is
//     learned, so it is off by default, and MediaNetworks and a firewall
//     bound it.
//   - NewSession drains the socket: what it holds then arrived before the
//     answer (the socket is opened with the offer and the phone rings
//     meanwhile) and is dropped unread (Stats.Drained), up to 4,096
//     datagrams. A socket the pacer cannot poll gives up only what a
//     read with a deadline already passed returns (an in-memory conn's
//     queue; nothing, on platforms where a real socket is not polled),
//     and an Early session's socket is read from the 183 on: there the
//     source check and the rule below are what stand.
//   - A key counts only if it began after the instant of answer. That
//     instant is when NewSession has drained the socket (for an Early
//     session, when Answered is called), read on the session's clock; a
//     key's beginning is Key.Began, the moment its first packet is
//     handled less the part of the press already heard then (an
//     RFC 4733 event's duration field, an in-band tone's detected
//     length). A key that began before the instant plus KeyGuard (one
//     packet interval: a packet that left the far end at the answer),
//     and an in-band key whose tone was sounding within the first
//     KeyGuard of its stream (the session heard the stream begin in the
//     middle of a press), are refused (Stats.KeysRefused): they were
//     pressed before anyone answered, or replayed from a queue.
//
// A session ends when Close is called, when no RTP arrives for
// MediaTimeout (Err is then ErrMediaTimeout), or when its Pacer is closed.
// The keys still sounding then go to the KeySink, and Done is closed;
// Play and SendKey return Err.
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
	dir    string      // ours; "" is SendRecv (session_update.go)
	codec  PayloadKind // what is sent; frames given to Play are in cfg.Codec
	// Send state: changed under mu, by the pacer's walk, except that
	// SendKey's cancel path sets markNext (a cut RFC 4733 event: the
	// audio after it resumes with the marker).
	seq      uint16
	ts       uint32 // timestamp of the next frame
	ts0      uint32 // timestamp of the stream's first frame (SendTimeline)
	playTS   uint32 // timestamp of the latest Play's first frame
	pressTS  uint32 // timestamp of the latest RFC 4733 press's first frame
	markNext bool
	hdr      rtp.Header
	pcm      [FrameSamples]int16
	mix      [FrameSamples]byte
	evbuf    [dtmf.EventPayloadLen]byte
	silence  [FrameSamples]byte

	// Owned by the pacer goroutine.
	pkt    []byte      // the packet being sent; one buffer for the session's life
	srtp   *srtpStream // nil: plain RTP; send side by the pacer, receive side under rxMu
	rxSeen int64
	rxAt   time.Time

	// The receive side, guarded by rxMu: the reader (the read goroutine,
	// or the pacer's walk for a polled session) holds it while it handles
	// what it read, and end while it flushes the receiver.
	pr        pollReader // non-nil: the pacer reads the socket (polled)
	rxMu      sync.Mutex
	rxDone    bool // the receiver was flushed at the end: read no more
	rxHdr     rtp.Header
	rxFail    int   // reads failed in a row
	idleSeen  int64 // recvd at the last idle check
	rxLast    time.Time
	idleAt    time.Time
	recv      *Receiver
	source    netip.AddrPort // where media is accepted from: sdp or a learned source
	sdpHeard  bool           // RTP came from sdp: nothing is learned any more
	strayAt   time.Time
	strayLast int64
	// The learning candidate (SessionConfig.Learn): its source, SSRC,
	// last sequence number and packets in a row.
	cand     netip.AddrPort
	candSSRC uint32
	candSeq  uint16
	candN    int

	// keysFrom is the instant of answer in Unix nanoseconds on the
	// session's clock (math.MaxInt64 for an Early session not yet
	// answered): keys that began before it plus KeyGuard are refused.
	keysFrom                 atomic.Int64
	learned                  atomic.Bool
	held                     atomic.Bool // the direction is not SendRecv: no media timeout
	sent, sentBytes          atomic.Int64
	recvd, recvdBytes        atomic.Int64
	garbage, foreign, ignore atomic.Int64
	drained, keysRefused     atomic.Int64
	sendErrs, readErrs       atomic.Int64
	srtpAuth, srtpReplay     atomic.Int64
}

// NewSession starts a session: it registers with the pacer (the first
// frame goes out at the next tick) and, for a socket the pacer cannot
// poll, starts the read goroutine. On error cfg.Conn is closed.
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
	if cfg.Learn < 0 {
		return nil, fmt.Errorf("%w: Learn %d is negative", ErrConfig, cfg.Learn)
	}
	if len(cfg.MediaNetworks) > 0 && !inNetworks(cfg.MediaNetworks, cfg.Remote.Addr().Unmap()) {
		return nil, fmt.Errorf("%w: remote %v is outside the media networks %v", ErrForeignRemote, cfg.Remote, cfg.MediaNetworks)
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
	s := &Session{
		cfg:     cfg,
		conn:    cfg.Conn,
		local:   cfg.Conn.LocalAddrPort(),
		log:     cfg.Logger,
		timeout: cfg.MediaTimeout,
		pt:      pt,
		codec:   cfg.Codec,
		eventPT: cfg.EventPT,
		receive: cfg.Receive,
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
	s.remote, s.source = s.sdp, s.sdp
	s.ts0 = s.ts
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
	var (
		recv *Receiver
		err  error
	)
	s.ssrc = rand.Uint32()
	s.hdr = rtp.Header{Version: 2, PayloadType: pt, SSRC: s.ssrc}
	var zero [FrameSamples]int16
	if cfg.Codec == KindPCMU {
		audio.EncodeULawTo(s.silence[:], zero[:])
	} else {
		audio.EncodeALawTo(s.silence[:], zero[:])
	}
	s.rxAt = s.now()
	if cfg.SRTP.Enabled() {
		if s.srtp, err = newSRTPStream(cfg.SRTP); err != nil {
			return nil, err
		}
	}

	var sink KeySink
	if cfg.KeySink != nil {
		sink = KeySinkFunc(s.deliverKey)
	}
	recv, err = NewReceiver(s.receiverConfig(), sink)
	if err != nil {
		return nil, err
	}
	s.recv = recv

	// A socket the pacer can read without blocking is read by its walk:
	// no goroutine and no wake-up per packet.
	if pr, ok := cfg.Conn.(pollReader); ok && pr.pollable() {
		s.pr = pr
	}
	// What the socket holds arrived before the answer: drop it unread,
	// and take the instant of answer (see Session).
	s.drain()
	if cfg.Early {
		s.keysFrom.Store(math.MaxInt64)
	} else {
		s.keysFrom.Store(s.now().UnixNano())
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

func (s *Session) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// String describes the session, e.g.
// "media.Session(127.0.0.1:30000 → 127.0.0.1:30002 PCMU/0 te=101 ssrc=0x1234abcd)",
// with " SRTP <suite>" before the parenthesis when SRTP protects it.
func (s *Session) String() string {
	s.mu.Lock()
	remote, codec, pt, ev := s.remote, s.codec, s.pt, s.eventPT
	s.mu.Unlock()
	sec := ""
	if s.cfg.SRTP.Enabled() {
		sec = " " + s.cfg.SRTP.String()
	}
	return fmt.Sprintf("media.Session(%s → %s %s/%d te=%d ssrc=%#08x%s)", s.local, remote, codec, pt, ev, s.ssrc, sec)
}

// SSRC returns the SSRC of the stream the session sends.
func (s *Session) SSRC() uint32 { return s.ssrc }

// LocalAddr returns the address of the session's socket.
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// Done is closed when the session has ended, after the last key went to
// the KeySink.
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
		Garbage: s.garbage.Load(), Ignored: s.ignore.Load(),
		Foreign: s.foreign.Load(), Drained: s.drained.Load(), KeysRefused: s.keysRefused.Load(),
		SendErrors: s.sendErrs.Load(), ReadErrors: s.readErrs.Load(),
		SRTPAuthFailed: s.srtpAuth.Load(), SRTPReplayed: s.srtpReplay.Load(),
		Remote: remote, Learned: s.learned.Load(),
		Receive: s.receiveStats(),
	}
}

// Close ends the session: it leaves the pacer, closes the socket (giving
// its port back), hands the keys still sounding to the KeySink, waits for
// the read goroutine, and closes a private pacer. It is idempotent and
// returns nil.
func (s *Session) Close() error {
	s.end(ErrSessionClosed)
	s.wg.Wait()
	if s.ownPacer {
		s.pacer.Close()
	}
	return nil
}

// end ends the session once, from any goroutine (the pacer's walk
// included): it never waits for the read goroutine, only for the reader's
// current step, which does not block.
func (s *Session) end(err error) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.ended, s.err = true, err
		s.play, s.press = nil, nil
		s.mu.Unlock()
		s.pacer.remove(s)
		s.conn.Close()
		s.flushReceiver()
		close(s.done)
		if err != ErrSessionClosed {
			s.log.Info("media: session ended", "local", s.local, "remote", s.cfg.Remote, "err", err)
		}
	})
}
