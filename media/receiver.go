package media

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"denwa/audio"
	"denwa/dtmf"

	"github.com/pion/rtp"
)

// StreamID names one RTP stream: its SSRC and, when known, the UDP
// addresses it was sent from and to.
type StreamID struct {
	SSRC     uint32
	Src, Dst netip.AddrPort
}

// String returns "src → dst ssrc=0x…", leaving out unknown addresses.
func (s StreamID) String() string {
	if !s.Src.IsValid() && !s.Dst.IsValid() {
		return fmt.Sprintf("ssrc=%#08x", s.SSRC)
	}
	return fmt.Sprintf("%s → %s ssrc=%#08x", s.Src, s.Dst, s.SSRC)
}

// Key is one key press found in a stream.
type Key struct {
	// Event holds the key, its source (in-band or RFC 4733), and Start and
	// End (exclusive) on the stream's RTP timeline: RTP timestamps extended
	// to 64 bits (dtmf.Clock32), where the stream's first packet's
	// timestamp maps to itself. With ReceiverConfig.Early the key is
	// reported when it goes down and End is what was known then: for an
	// RFC 4733 key, Start plus the duration in the first packet of the
	// event that arrived (the whole press only if that was an END); for an
	// in-band key, the end of the audio in which its tone was accepted
	// (Start plus about 32–38 ms). Without Early, End is the press's end.
	dtmf.Event
	Stream StreamID
	// At is Start measured from the timestamp of the stream's first packet
	// (8000 units a second): where the press is in the stream.
	At time.Duration
	// Began is when the key began on a live session's clock
	// (SessionConfig.Now): the moment the session handed the key to its
	// KeySink, less the part of the press heard by then (End − Start). It
	// is zero from a Receiver used on its own, as for a capture.
	Began time.Time
}

func (k Key) String() string {
	return fmt.Sprintf("%s %s %.3fs %s", k.Key, k.Source, k.At.Seconds(), k.Stream)
}

// KeySink receives the keys a Receiver finds, in the order they become
// certain. It is called on the receiver's goroutine, from HandleRTP,
// HandlePacket, Idle or Flush, and must not call back into the Receiver.
type KeySink interface {
	HandleKey(Key)
}

// KeySinkFunc adapts a function to KeySink. A nil KeySinkFunc drops keys.
type KeySinkFunc func(Key)

// HandleKey calls f(k).
func (f KeySinkFunc) HandleKey(k Key) {
	if f != nil {
		f(k)
	}
}

// String names the adapter, for pipeline dumps.
func (f KeySinkFunc) String() string { return "media.KeySinkFunc" }

// StreamStats counts one stream's packets. The counters are plain integers
// owned by the receiver's goroutine: read them on that goroutine (Streams,
// or after the last HandleRTP), not concurrently with it.
type StreamStats struct {
	Packets int64 // packets of this SSRC, whatever became of them
	Bytes   int64 // their payload bytes (after the RTP header and padding)
	Audio   int64 // G.711 packets fed to the in-band detector
	Events  int64 // telephone-event packets fed to the RFC 4733 decoder
	// Guessed counts the Events whose payload type was unknown and guessed
	// by LooksLikeTelephoneEvent.
	Guessed int64
	// Lost is the RFC 3550 §6.4.1 cumulative loss: packets expected from
	// the sequence numbers minus packets received (never negative).
	Lost int64
	// Late counts audio packets dropped because they came after their
	// place in the timeline had gone to the detector: overtaken by more
	// than the jitter buffer's depth (but by no more than MaxGap).
	Late int64
	// Reordered counts audio packets that arrived behind a newer one and
	// were put back in their place by the jitter buffer; Duplicates the
	// second and later copies of a packet, dropped.
	Reordered, Duplicates int64
	// Concealed counts the packets' worth of audio that never came and
	// went to the in-band detector as missing rather than as silence
	// (up to 60 ms of each hole; see JitterConfig).
	Concealed int64
	// Depth is the jitter buffer's depth now (see JitterConfig).
	Depth time.Duration
	// Bad counts packets whose payload could not be used: an empty or
	// malformed telephone-event, an empty audio payload.
	Bad int64
	// Ignored counts packets of payload types that carry neither G.711 nor
	// telephone-events (comfort noise, other codecs).
	Ignored int64
	// Gaps counts holes in the audio timeline (concealed, then filled
	// with silence); Resyncs the holes longer than MaxGap and the jumps
	// back beyond it, after which the in-band detector was restarted at
	// the new timestamp.
	Gaps, Resyncs int64
}

// StreamInfo describes one stream a Receiver has seen.
type StreamInfo struct {
	ID StreamID
	// FirstTS is the first packet's RTP timestamp (extended, so equal to
	// the 32-bit value); FirstSeen its arrival time if known.
	FirstTS   int64
	FirstSeen time.Time
	Stats     StreamStats
}

// ReceiverConfig configures a Receiver. The zero value works: defaults
// are documented on each field.
type ReceiverConfig struct {
	// PayloadTypes says what each payload type carries, from the SDP that
	// negotiated the session. The zero value means DefaultPayloadTypes()
	// (0 = PCMU, 8 = PCMA).
	PayloadTypes PayloadTypes
	// NoGuess turns off LooksLikeTelephoneEvent for unknown dynamic payload
	// types; such packets are then ignored.
	NoGuess bool
	// Detector and Events configure each stream's in-band detector and
	// RFC 4733 decoder (zero values are their defaults).
	Detector dtmf.Config
	Events   dtmf.EventDecoderConfig
	// Merge tunes how in-band keys wait for their RFC 4733 twins (zero:
	// dtmf's defaults, which favour labelling a press rfc4733 over
	// latency; a live call shortens the hold, see SessionConfig).
	Merge dtmf.MergerConfig
	// Early reports each key when it goes down instead of when it ends:
	// an RFC 4733 key with the first packet of its event that arrives, an
	// in-band key as soon as the detector accepts its tone (32–38 ms into
	// it), each once. The detector and the decoder find the same keys,
	// with the same Start, as without Early; Key.End is only what was
	// known at that moment (see Key). An in-band key still waits
	// Merge.Hold after that End for an RFC 4733 twin, and the twins of a
	// press still give one key, in either order. Live sessions use it (a
	// key's latency matters); captures do not (End and the whole press
	// matter there). Early sets the Early fields of Detector, Events and
	// Merge; they can also be set one by one.
	Early bool
	// Jitter sizes the jitter buffer that puts each stream's audio in
	// timestamp order before the in-band detector (zero: audio waits
	// 40 ms, rising to 60 ms while packets are overtaken by two others).
	Jitter JitterConfig
	// MaxGap is the longest hole in the audio timeline (lost packets,
	// silence suppression, a pause while events are sent) that is bridged
	// (concealed, then filled with silence), in timestamp units. Audio
	// after a longer hole restarts the detector at its own timestamp. Zero
	// means 8000 (1 s).
	MaxGap int64
	// MaxStreams bounds the SSRCs tracked; packets of further SSRCs return
	// ErrTooManyStreams. Zero means 16.
	MaxStreams int
	// Src and Dst are the session's addresses, reported with each key;
	// either may be the zero AddrPort when unknown.
	Src, Dst netip.AddrPort
	// Now, if set, timestamps each stream's first packet
	// (StreamInfo.FirstSeen): a live session's clock, or a capture's
	// timestamp of the stream's first packet. It is read once per new
	// stream, never per packet.
	Now func() time.Time
}

// Defaults for ReceiverConfig.
const (
	DefaultMaxGap     = 8000
	DefaultMaxStreams = 16
)

// Receiver is the push sink for one RTP session: it demultiplexes packets
// by SSRC, decodes G.711 audio (PCMU, PCMA) into the in-band detector and
// telephone-events into the RFC 4733 decoder, merges both so that one
// press gives one key, and hands each key to its KeySink.
//
// Time is taken from RTP timestamps only: arrival jitter and bursts do not
// matter. Each stream's audio passes through a jitter buffer (see
// JitterConfig) that puts reordered packets back in place and drops
// duplicates, and is then placed on its RTP timeline: a hole is given to
// the detector as missing audio (up to 60 ms, then silence) up to MaxGap,
// beyond it the detector restarts; audio whose place already went to the
// detector, up to MaxGap behind it, is dropped (StreamStats.Late); a jump
// back further than that restarts the detector at the new timestamp.
// RFC 4733 events do not wait in the jitter buffer.
//
// A Receiver is not safe for concurrent use. HandleRTP and HandlePacket do
// not allocate once a stream's buffers have grown to its packet size, do no
// I/O and do not log.
type Receiver struct {
	cfg     ReceiverConfig
	sink    KeySink
	streams map[uint32]*stream
	order   []*stream // in order of first packet
	last    *stream   // the stream of the previous packet
	hdr     rtp.Header
	dropped int64 // packets refused with ErrTooManyStreams
	// jmin, jmax: the jitter buffer's depth bounds, in timestamp units.
	jmin, jmax int64
}

// NewReceiver returns a Receiver that reports keys to sink (nil drops them).
func NewReceiver(cfg ReceiverConfig, sink KeySink) (*Receiver, error) {
	if cfg.PayloadTypes == (PayloadTypes{}) {
		cfg.PayloadTypes = DefaultPayloadTypes()
	}
	switch {
	case cfg.MaxGap < 0:
		return nil, fmt.Errorf("%w: MaxGap %d is negative", ErrConfig, cfg.MaxGap)
	case cfg.MaxGap == 0:
		cfg.MaxGap = DefaultMaxGap
	}
	switch {
	case cfg.MaxStreams < 0:
		return nil, fmt.Errorf("%w: MaxStreams %d is negative", ErrConfig, cfg.MaxStreams)
	case cfg.MaxStreams == 0:
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.Early {
		cfg.Detector.Early, cfg.Events.Early, cfg.Merge.Early = true, true, true
	}
	if err := cfg.Detector.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	jmin, jmax, err := cfg.Jitter.depths()
	if err != nil {
		return nil, err
	}
	if sink == nil {
		sink = KeySinkFunc(nil)
	}
	return &Receiver{cfg: cfg, sink: sink, streams: make(map[uint32]*stream), jmin: jmin, jmax: jmax}, nil
}

// String describes the receiver, for pipeline dumps.
func (r *Receiver) String() string {
	return fmt.Sprintf("media.Receiver(%s → %s, %d streams, pt %s)", r.cfg.Src, r.cfg.Dst, len(r.order), r.cfg.PayloadTypes.String())
}

// HandlePacket parses one RTP packet from buf (ParseDatagram: RFC 3550
// §5.1, padding removed) and handles it as HandleRTP does. It returns
// ErrNotRTP for anything but RTP, RTCP included. buf is not retained.
func (r *Receiver) HandlePacket(buf []byte) error {
	class, payload := ParseDatagram(&r.hdr, buf)
	if class != ClassRTP {
		return ErrNotRTP
	}
	return r.handle(&r.hdr, payload)
}

// HandleRTP takes one RTP packet: its parsed header and its payload
// (without padding). Neither is retained. It returns ErrNotRTP for a
// version other than 2, ErrTooManyStreams for a new SSRC beyond
// MaxStreams, and the RFC 4733 decoder's error for a malformed event;
// such packets are counted and otherwise dropped, and the receiver stays
// usable. Unknown payload types are ignored without error.
func (r *Receiver) HandleRTP(h *rtp.Header, payload []byte) error {
	if h.Version != 2 {
		return ErrNotRTP
	}
	return r.handle(h, payload)
}

// handle is HandleRTP for a header ParseDatagram has classified as RTP.
func (r *Receiver) handle(h *rtp.Header, payload []byte) error {
	s := r.last
	if s == nil || s.id.SSRC != h.SSRC {
		s = r.streams[h.SSRC]
		if s == nil {
			if len(r.order) >= r.cfg.MaxStreams {
				r.dropped++
				return ErrTooManyStreams
			}
			s = r.newStream(h)
		}
		r.last = s
	}
	return s.packet(r, h, payload)
}

// Flush ends every stream, in order of first packet: the audio held in
// its jitter buffer goes to the detector, keys still sounding
// or waiting for their END packet are reported (with Early, those already
// reported at key-down are only ended), and in-band keys held for a twin
// are released. Packets handled after Flush start the streams' key
// detection afresh on the same timeline.
func (r *Receiver) Flush() {
	for _, s := range r.order {
		s.flush(r)
	}
}

// Idle tells the receiver that no packet has arrived for elapsed; a live
// session's read loop calls it (a capture never needs to). A far end that
// suppresses silence (RFC 3551 §4.1: comfort noise, or nothing at all)
// stops sending when a key's tone stops, so the audio that would end an
// in-band key, and the time that would end an RFC 4733 key whose END was
// lost, never come: every stream's in-band key in progress is ended where
// its tone stopped, and the RFC 4733 decoder and the merger are advanced to
// the stream's last RTP time plus elapsed. The audio held in the jitter
// buffers goes to the detector first. The timeline itself does not move:
// the next packet is placed by its own timestamp. With Early, in-band keys
// were reported when they went down, and the detector is left as it is: a
// network that stalls in the middle of a press and then delivers the rest
// (its timestamps going on without a hole) gives one key, not two, while
// a far end that stopped sending leaves a hole that ends the key when it
// sends again. An in-band key held for its twin is released once elapsed
// covers Merge.Hold.
func (r *Receiver) Idle(elapsed time.Duration) {
	d := int64(elapsed / (time.Second / dtmf.SampleRate))
	for _, s := range r.order {
		s.evs = s.evs[:0]
		s.release(r, math.MaxInt64)
		if !r.cfg.Detector.Early {
			s.evs = s.shift(s.det.Flush(s.evs), len(s.evs))
		}
		now := s.now + d
		s.evs = s.dec.Advance(s.evs, now)
		s.emit(r, s.evs)
		s.keys = s.merge.Advance(s.keys[:0], now)
		s.report(r)
		s.evs = s.evs[:0]
	}
}

// OutOfBand takes a key that reached the session outside RTP (a SIP INFO
// request, src dtmf.SourceSIPInfo) now, lasting dur samples (0 when
// unknown), and merges it with the stream's RFC 4733 and in-band keys so
// that a press sent more than one way gives one key. It is placed on the
// RTP timeline of the stream of the latest packet, ending at the latest
// RTP time that stream has reached (a live session's "now", to within a
// packet) and beginning dur earlier, but not before the stream's first
// packet; the merger looks for its twins within dur (at least 100 ms)
// either side of that end, as senders send INFO at key-down or at key-up
// (dtmf.Merger). Before any packet there is no timeline and no twin: the key
// goes to the sink at once, with Start 0. An invalid key is ignored.
func (r *Receiver) OutOfBand(k dtmf.Key, src dtmf.Source, dur int64) {
	if !k.Valid() {
		return
	}
	dur = max(dur, 0)
	s := r.last
	if s == nil {
		r.sink.HandleKey(Key{Event: dtmf.Event{Key: k, Source: src, End: dur}, Stream: StreamID{Src: r.cfg.Src, Dst: r.cfg.Dst}})
		return
	}
	start := s.firstTS
	if s.now-start > dur {
		start = s.now - dur
	}
	s.keys = s.merge.Add(s.keys[:0], dtmf.Event{Key: k, Source: src, Start: start, End: s.now})
	s.report(r)
}

// Streams returns the streams seen so far, in order of first packet, with
// their counters.
func (r *Receiver) Streams() []StreamInfo {
	out := make([]StreamInfo, len(r.order))
	for i, s := range r.order {
		out[i] = StreamInfo{ID: s.id, FirstTS: s.firstTS, FirstSeen: s.firstSeen, Stats: s.statsNow()}
	}
	return out
}

// Totals adds up the counters of every stream (Depth: the deepest), without
// allocating.
func (r *Receiver) Totals() StreamStats {
	var t StreamStats
	for _, s := range r.order {
		st := s.statsNow()
		t.Packets += st.Packets
		t.Bytes += st.Bytes
		t.Audio += st.Audio
		t.Events += st.Events
		t.Guessed += st.Guessed
		t.Lost += st.Lost
		t.Late += st.Late
		t.Reordered += st.Reordered
		t.Duplicates += st.Duplicates
		t.Concealed += st.Concealed
		t.Bad += st.Bad
		t.Ignored += st.Ignored
		t.Gaps += st.Gaps
		t.Resyncs += st.Resyncs
		t.Depth = max(t.Depth, st.Depth)
	}
	return t
}

// reached returns the latest RTP time the stream of ssrc has reached
// (audio held in its jitter buffer included), and whether it is known.
func (r *Receiver) reached(ssrc uint32) (int64, bool) {
	s := r.last
	if s == nil || s.id.SSRC != ssrc {
		if s = r.streams[ssrc]; s == nil {
			return 0, false
		}
	}
	return s.now, true
}

// Dropped returns the number of packets refused with ErrTooManyStreams.
func (r *Receiver) Dropped() int64 { return r.dropped }

// stream is one SSRC's state.
type stream struct {
	id        StreamID
	firstTS   int64
	firstSeen time.Time
	stats     StreamStats

	clock dtmf.Clock32
	// Sequence numbers extended to 64 bits for the loss count.
	seqBase, seqMax int64

	det    *dtmf.Detector
	dec    *dtmf.EventDecoder
	merge  dtmf.Merger
	jb     jitterBuffer
	fedSeq int64 // sequence number of the frame the detector had last (noSeq: none)
	base   int64 // RTP time of the detector's sample 0
	now    int64 // latest RTP time the stream has reached

	pcm  []int16      // decoded audio, grown to the largest payload
	evs  []dtmf.Event // scratch: keys from the detector or decoder
	keys []dtmf.Event // scratch: keys out of the merger
}

func (r *Receiver) newStream(h *rtp.Header) *stream {
	var at time.Time
	if r.cfg.Now != nil {
		at = r.cfg.Now()
	}
	det, _ := dtmf.NewDetector(r.cfg.Detector) // validated by NewReceiver
	s := &stream{
		id:        StreamID{SSRC: h.SSRC, Src: r.cfg.Src, Dst: r.cfg.Dst},
		firstSeen: at,
		det:       det,
		merge:     *dtmf.NewMerger(r.cfg.Merge),
		dec:       dtmf.NewEventDecoder(r.cfg.Events),
		evs:       make([]dtmf.Event, 0, 8),
		keys:      make([]dtmf.Event, 0, 8),
	}
	s.jb.init(r.jmin, r.jmax)
	s.fedSeq = noSeq
	s.firstTS = s.clock.Extend(h.Timestamp)
	s.seqBase = int64(h.SequenceNumber)
	s.seqMax = s.seqBase - 1
	s.now = s.firstTS
	r.streams[h.SSRC] = s
	r.order = append(r.order, s)
	return s
}

// noSeq: no sequence number.
const noSeq = math.MinInt64

// silence feeds holes in the audio timeline.
var silence [160]int16

func (s *stream) packet(r *Receiver, h *rtp.Header, payload []byte) error {
	s.stats.Packets++
	s.stats.Bytes += int64(len(payload))
	// Sequence numbers: extend around the highest seen (RFC 3550 A.1 in
	// spirit) and count loss as expected minus received.
	seq := s.seqMax + int64(int16(h.SequenceNumber-uint16(s.seqMax)))
	if seq > s.seqMax {
		s.seqMax = seq
	}
	if seq < s.seqBase {
		s.seqBase = seq
	}
	s.stats.Lost = max(0, s.seqMax-s.seqBase+1-s.stats.Packets)

	ts := s.clock.Extend(h.Timestamp)
	kind := r.cfg.PayloadTypes[h.PayloadType&0x7f]
	guessed := false
	if kind == KindUnknown && !r.cfg.NoGuess && IsDynamic(h.PayloadType) && LooksLikeTelephoneEvent(payload) {
		kind, guessed = KindTelephoneEvent, true
	}
	s.evs = s.evs[:0]
	switch kind {
	case KindPCMU, KindPCMA:
		if len(payload) == 0 {
			s.stats.Bad++
			return nil
		}
		if !s.audio(r, kind, ts, seq, payload) {
			return nil
		}
	case KindTelephoneEvent:
		var err error
		s.evs, err = s.dec.Decode(s.evs, h.SequenceNumber, ts, h.Marker, payload)
		if err != nil {
			s.stats.Bad++
			return err
		}
		s.stats.Events++
		if guessed {
			s.stats.Guessed++
		}
		s.now = max(s.now, ts)
	default:
		s.stats.Ignored++
		return nil
	}
	s.evs = s.dec.Advance(s.evs, s.now)
	s.emit(r, s.evs)
	s.keys = s.merge.Advance(s.keys[:0], s.now)
	s.report(r)
	return nil
}

// statsNow returns the stream's counters with the current depth.
func (s *stream) statsNow() StreamStats {
	st := s.stats
	if s.jb.started {
		st.Depth = samplesToDuration(s.jb.depth)
	}
	return st
}

// audio takes one G.711 payload into the jitter buffer and hands the
// detector what is due; it returns false when the packet was dropped as
// late or duplicated.
func (s *stream) audio(r *Receiver, kind PayloadKind, ts, seq int64, payload []byte) bool {
	jb := &s.jb
	if !jb.started {
		// The first packet anchors the timeline: one that comes after it
		// from before it is late.
		jb.restart(ts)
		s.base = ts
	}
	if f := jb.first(); jb.full() {
		s.release(r, f.ts+int64(f.n))
	}
	switch {
	case ts > jb.end+r.cfg.MaxGap || ts < jb.newest-r.cfg.MaxGap:
		// A long hole, or a timeline that jumped back further than any
		// reordering could explain (a sender that restarted its
		// timestamps): what is held goes first, then the detector starts
		// again at this packet.
		s.release(r, math.MaxInt64)
		s.resync(ts)
		jb.restart(ts)
	case ts < s.pos():
		if jb.released(ts) {
			s.stats.Duplicates++
		} else {
			s.stats.Late++
			jb.observe(jb.end-ts-int64(len(payload)), int64(len(payload)))
		}
		return false
	}
	newest := jb.newest
	if !jb.push(ts, seq, kind, payload) {
		s.stats.Duplicates++
		return false
	}
	if ts < newest {
		s.stats.Reordered++
	}
	s.stats.Audio++
	s.now = max(s.now, ts+int64(len(payload)))
	s.release(r, jb.end-jb.depth)
	return true
}

// resync restarts the detector at RTP time ts: keys still sounding end.
func (s *stream) resync(ts int64) {
	s.stats.Resyncs++
	s.evs = s.shift(s.det.Flush(s.evs), len(s.evs))
	s.det.Reset()
	s.base = ts
}

// pos returns the RTP time of the detector's next sample (once the
// stream has had audio).
func (s *stream) pos() int64 { return s.base + s.det.Pos() }

// release hands the detector the held frames that end by limit, in order,
// each hole before them concealed; keys go to s.evs.
func (s *stream) release(r *Receiver, limit int64) {
	for f := s.jb.first(); f != nil && f.ts+int64(f.n) <= limit; f = s.jb.first() {
		s.feed(r, f.ts, f.seq, f.kind, f.data[:f.n])
		s.jb.pop()
	}
}

// feed places one frame, of extended sequence number seq, on the
// detector's timeline.
func (s *stream) feed(r *Receiver, ts, seq int64, kind PayloadKind, payload []byte) {
	prev := s.fedSeq
	s.fedSeq = seq
	switch gap := ts - s.pos(); {
	case gap > r.cfg.MaxGap || gap < -r.cfg.MaxGap: // held across a jump
		s.resync(ts)
	case gap < 0:
		// It overlaps audio already given (packets of different sizes):
		// only the rest is new.
		if -gap >= int64(len(payload)) {
			return
		}
		payload = payload[-gap:]
	case gap > 0:
		// Packets lost (a gap in the sequence numbers) are concealed, up to
		// maxConceal; a hole the sender left (silence suppression, audio
		// paused for events: no sequence number missing) is silence, so a
		// pause between two presses is one even when nothing was sent in it.
		s.stats.Gaps++
		n := min(gap, maxConceal)
		if lost := seq - prev - 1; prev != noSeq && lost >= 0 {
			n = min(n, lost*int64(len(payload)))
		}
		if n > 0 {
			s.stats.Concealed += (n + int64(len(payload)) - 1) / int64(len(payload))
			s.evs = s.shift(s.det.Missing(s.evs, int(n)), len(s.evs))
		}
		for gap -= n; gap > 0; {
			n := min(gap, int64(len(silence)))
			s.evs = s.shift(s.det.Process(s.evs, silence[:n]), len(s.evs))
			gap -= n
		}
	}
	if cap(s.pcm) < len(payload) {
		s.pcm = make([]int16, len(payload))
	}
	pcm := s.pcm[:len(payload)]
	if kind == KindPCMU {
		audio.DecodeULawTo(pcm, payload)
	} else {
		audio.DecodeALawTo(pcm, payload)
	}
	s.evs = s.shift(s.det.Process(s.evs, pcm), len(s.evs))
}

// shift moves the detector's keys appended after evs[from] from detector
// samples to RTP time.
func (s *stream) shift(evs []dtmf.Event, from int) []dtmf.Event {
	for i := from; i < len(evs); i++ {
		evs[i].Start += s.base
		evs[i].End += s.base
	}
	return evs
}

// emit feeds keys from either source into the merger.
func (s *stream) emit(r *Receiver, evs []dtmf.Event) {
	for _, ev := range evs {
		s.keys = s.merge.Add(s.keys[:0], ev)
		s.report(r)
	}
}

// report hands the merger's output in s.keys to the sink.
func (s *stream) report(r *Receiver) {
	for _, ev := range s.keys {
		r.sink.HandleKey(Key{Event: ev, Stream: s.id, At: samplesToDuration(ev.Start - s.firstTS)})
	}
	s.keys = s.keys[:0]
}

func (s *stream) flush(r *Receiver) {
	s.evs = s.evs[:0]
	s.release(r, math.MaxInt64)
	s.evs = s.shift(s.det.Flush(s.evs), len(s.evs))
	s.evs = s.dec.Flush(s.evs)
	s.emit(r, s.evs)
	s.keys = s.merge.Flush(s.keys[:0])
	s.report(r)
	s.evs = s.evs[:0]
}

func samplesToDuration(n int64) time.Duration {
	return time.Duration(n) * time.Second / dtmf.SampleRate
}
