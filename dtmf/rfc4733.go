package dtmf

// RFC 4733 telephone-event payload, §2.3
// (https://www.rfc-editor.org/rfc/rfc4733#section-2.3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//	event     0–9 * # A–D are codes 0–15; 16 and up (flash, tones, …)
//	          are not keys and are ignored here.
//	E         end of the event (or of its last segment).
//	R         reserved; ignored.
//	volume    −dBm0, 0–63; ignored.
//	duration  since the packet's RTP timestamp, in timestamp units.
//
// The RTP timestamp of every packet of one event is the event's start; the
// duration grows from packet to packet (§2.5.1.2), the END packet is sent
// three times (§2.5.1.4), and an event longer than 0xFFFF units continues as
// a new segment whose timestamp is the previous one plus 0xFFFF (§2.5.1.3,
// https://www.rfc-editor.org/rfc/rfc4733#section-2.5.1.3).

// DefaultEventTimeout is the default [EventDecoderConfig.Timeout]: 300 ms.
// Senders refresh an event every 20–50 ms (RFC 4733 §2.5.1.2), so 300 ms
// without a packet is several lost updates in a row; a key whose END packets
// were all lost is reported that late, never twice.
const DefaultEventTimeout = 2400

// maxEventTimeout caps EventDecoderConfig.Timeout (about 36 hours).
const maxEventTimeout = 1 << 30

// maxTimestamp bounds accepted timestamps so that ts+duration and the
// timeout arithmetic cannot overflow int64.
const maxTimestamp = 1 << 62

// segmentSlack is how far from 0xFFFF after the previous segment's
// timestamp a continuation segment may start: senders round the cut to
// their packet interval.
const segmentSlack = 1600

// resetGap: a packet whose sequence number is newer than any seen but whose
// timestamp is this much before the current event's is taken as the
// sender's timeline jumping back, not as a stale packet. It exceeds
// anything a well-behaved sender can produce (a late END repeat of a full
// 0xFFFF segment followed by the next event), twice over.
const resetGap = 1 << 17

// EventDecoderConfig tunes an EventDecoder; zero values select defaults.
type EventDecoderConfig struct {
	// Timeout ends a key whose END packet never came, in timestamp units
	// after the key was last heard (see [EventDecoder.Advance]).
	// Zero or negative means [DefaultEventTimeout]; values above 2^30
	// are capped.
	Timeout int64
	// Early reports each key when its event starts: with the first packet
	// of a new event (a new timestamp, RFC 4733 §2.5) that arrives,
	// whichever it is — the marker packet, a later update when the first
	// ones were lost, or the END when only END packets come. End is then
	// the start plus that packet's duration (the full press only when it
	// was an END). The keys, their order and their Start are exactly those
	// reported without Early; every later packet of the event, END repeats
	// included, only updates the state, and the END, the timeout, Flush
	// and the next event end the key without reporting it again. False
	// (the zero value) reports each key when it ends, with its full
	// duration.
	Early bool
}

// EventDecoder turns one stream's RFC 4733 telephone-event packets into
// keys: one [Event] per press, with Source [SourceRFC4733], Start the
// event's first RTP timestamp and End its start plus the last reported
// duration (for a segmented long press, the last segment's start plus
// its duration). With [EventDecoderConfig.Early] the key is reported when
// its event starts instead, with End as known then.
//
// Events are keyed by RTP timestamp, never by the marker bit, so the
// decoder copes with what senders do in the field: no marker bit, only END
// packets, duration 0, END sent three times, every END lost (the key ends
// at the timeout or when an event with another timestamp starts), reordered
// and duplicated packets. Once a key is reported, packets of its timestamp
// or older are ignored, so a late END repeat never makes a second key.
// Two presses of the same key have different timestamps and give two keys.
// The state holds one event, so a key whose every packet arrives after the
// first packet of a later key is taken as stale and lost: keys come out in
// time order, and at most once. (With Early, "reported" above means
// "ended": a key reported at its start still takes its updates and END.)
//
// Payloads longer than 4 bytes: only the first 4 bytes are read. A plain
// telephone-event payload is one 4-byte block; several events in one packet
// need RFC 2198 redundancy headers to carry their timestamps, so trailing
// bytes without them cannot be placed in time and are ignored.
//
// Sequence numbers are compared modulo 2^16 only to tell a stale packet
// (older timestamp, older sequence number: ignored) from a sender whose
// timestamps jumped back by more than 2^17 units (newer sequence number:
// the decoder starts over). Call [EventDecoder.Reset] when the SSRC changes.
//
// The state is a fixed-size value: memory does not grow with the stream.
// The zero value is ready to use with the default configuration. An
// EventDecoder is not safe for concurrent use; Decode and Advance do not
// allocate when dst has room for the keys they append (at most two).
type EventDecoder struct {
	timeout int64
	early   bool

	nowValid bool
	now      int64 // latest now given to Advance, within ±2^62

	seqValid bool
	maxSeq   uint16 // newest sequence number seen, modulo 2^16

	have     bool // an event is known: current or last reported
	ended    bool // ...and it has ended (reported then, or with early at its start)
	key      Key
	start    int64 // the event's first timestamp
	segStart int64 // the timestamp of its current segment
	segDur   int64 // the longest duration reported for that segment
	heard    int64 // when the event was last heard (see Advance)
}

// NewEventDecoder returns a decoder for one stream.
func NewEventDecoder(cfg EventDecoderConfig) *EventDecoder {
	d := &EventDecoder{}
	d.configure(cfg)
	return d
}

func (d *EventDecoder) configure(cfg EventDecoderConfig) {
	t := cfg.Timeout
	if t <= 0 {
		t = DefaultEventTimeout
	}
	d.timeout = min(t, maxEventTimeout)
	d.early = cfg.Early
}

// Reset forgets the stream (for a new SSRC), keeping the configuration.
// A key in progress is dropped; call Flush first to keep it.
func (d *EventDecoder) Reset() {
	*d = EventDecoder{timeout: d.timeout, early: d.early}
}

// Decode takes one telephone-event packet: its RTP sequence number, its RTP
// timestamp extended to 64 bits (with a [Clock32]), its marker bit and its
// payload, which is only read during the call. Keys that ended are appended
// to dst in time order: the previous key when this packet starts a new
// event, and this packet's key when it is an END packet. With Early, only
// a packet that starts a new event appends a key: its own.
//
// A payload shorter than 4 bytes returns [ErrShortPayload] and a timestamp
// outside ±2^62 [ErrTimestampRange], both without changing any state.
// Non-DTMF event codes (16 and up) are ignored without error. The marker bit
// is accepted but not needed: timestamps identify events.
func (d *EventDecoder) Decode(dst []Event, seq uint16, ts int64, marker bool, payload []byte) ([]Event, error) {
	_ = marker
	var p EventPayload
	if err := p.Unmarshal(payload); err != nil {
		return dst, err
	}
	if ts > maxTimestamp || ts < -maxTimestamp {
		return dst, ErrTimestampRange
	}
	newer := !d.seqValid || int16(seq-d.maxSeq) > 0
	if newer {
		d.seqValid, d.maxSeq = true, seq
	}
	key, ok := KeyFromCode(p.Code)
	if !ok {
		return dst, nil
	}
	dur := int64(p.Duration)
	heard := ts + dur
	if d.nowValid {
		heard = max(heard, d.now)
	}

	if d.have {
		switch {
		case ts < d.segStart:
			if !newer || d.segStart-ts <= resetGap {
				return dst, nil // stale: an older event, or an earlier segment
			}
			dst = d.finish(dst) // the sender's timeline jumped back: start over
		case ts == d.segStart:
			if d.ended || key != d.key {
				return dst, nil // a repeat of a reported key, or nonsense
			}
			d.segDur = max(d.segDur, dur)
			d.heard = max(d.heard, heard)
			if p.End {
				dst = d.finish(dst)
			}
			return dst, nil
		default: // a later timestamp: the next segment, or a new event
			if !d.ended && key == d.key && d.isNextSegment(ts) {
				d.segStart, d.segDur = ts, dur
				d.heard = max(d.heard, heard)
				if p.End {
					dst = d.finish(dst)
				}
				return dst, nil
			}
			dst = d.finish(dst)
		}
	}
	d.have, d.ended = true, false
	d.key, d.start, d.segStart, d.segDur, d.heard = key, ts, ts, dur, heard
	if d.early {
		dst = append(dst, d.event())
	}
	if p.End {
		dst = d.finish(dst)
	}
	return dst, nil
}

// isNextSegment reports whether an event starting at ts continues the
// current one as its next long-event segment (RFC 4733 §2.5.1.3): it starts
// about 0xFFFF after the current segment and not before its known end.
func (d *EventDecoder) isNextSegment(ts int64) bool {
	dt := ts - d.segStart
	return dt >= d.segDur && dt >= MaxSegmentDuration-segmentSlack && dt <= MaxSegmentDuration+segmentSlack
}

// finish ends the current event if it is still in progress and reports
// it, unless Early reported it when it started.
func (d *EventDecoder) finish(dst []Event) []Event {
	if !d.have || d.ended {
		return dst
	}
	d.ended = true
	if d.early {
		return dst
	}
	return append(dst, d.event())
}

func (d *EventDecoder) event() Event {
	return Event{Key: d.key, Source: SourceRFC4733, Start: d.start, End: d.segStart + d.segDur}
}

// Pending returns the key in progress (its END not yet seen), with End the
// end known so far, and false when there is none. It lets a caller stop a
// prompt as soon as a key starts (barge-in) without waiting for its end.
func (d *EventDecoder) Pending() (Event, bool) {
	if !d.have || d.ended {
		return Event{}, false
	}
	return d.event(), true
}

// Advance tells the decoder the stream's time has reached now, on the same
// timeline as the timestamps given to Decode (the stream's extended RTP
// clock, e.g. the newest audio timestamp). A key whose END never came is
// ended, and appended to dst unless Early reported it already, once now is
// more than Timeout after it was last heard: the later of its last
// packet's timestamp+duration and the now of the last Advance before that
// packet. Calling Advance only rarely, or never, is allowed: a new event
// still ends the previous key.
func (d *EventDecoder) Advance(dst []Event, now int64) []Event {
	if n := min(max(now, -maxTimestamp), maxTimestamp); !d.nowValid || n > d.now {
		d.nowValid, d.now = true, n
	}
	timeout := d.timeout
	if timeout == 0 {
		timeout = DefaultEventTimeout
	}
	// The difference is taken in uint64: now may be any int64.
	if d.have && !d.ended && now > d.heard && uint64(now)-uint64(d.heard) > uint64(timeout) {
		dst = d.finish(dst)
	}
	return dst
}

// Flush ends the stream, appending a key still in progress (with Early it
// was reported when it started, and Flush only ends it). Later packets of
// that key are still recognised and ignored.
func (d *EventDecoder) Flush(dst []Event) []Event {
	return d.finish(dst)
}
