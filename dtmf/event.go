package dtmf

import (
	"fmt"
	"io"
)

// EventPayloadLen is the size of one RFC 4733 telephone-event payload.
const EventPayloadLen = 4

// MaxSegmentDuration is the largest duration one RFC 4733 event segment can
// report (the 16-bit duration field, about 8.19 s at 8 kHz). Longer presses
// are sent as several segments (RFC 4733 §2.5.1.3).
const MaxSegmentDuration = 0xFFFF

// EventPayload is one RFC 4733 telephone-event payload (see the diagram in
// rfc4733.go). The reserved R bit is dropped when reading and sent as 0.
type EventPayload struct {
	Code     uint8  // event code; 0–15 are the DTMF keys (see [KeyFromCode])
	End      bool   // the E bit: this packet ends the event (segment)
	Volume   uint8  // power level in −dBm0, 0–63; ignored by the decoder
	Duration uint16 // in timestamp units since the packet's RTP timestamp
}

// Unmarshal reads the first [EventPayloadLen] bytes of b into p. Longer
// payloads are accepted and the extra bytes ignored (see [EventDecoder] for
// why). It returns [ErrShortPayload], leaving p unchanged, when b is too short.
func (p *EventPayload) Unmarshal(b []byte) error {
	if len(b) < EventPayloadLen {
		return ErrShortPayload
	}
	p.Code = b[0]
	p.End = b[1]&0x80 != 0
	p.Volume = b[1] & 0x3F
	p.Duration = uint16(b[2])<<8 | uint16(b[3])
	return nil
}

// MarshalTo writes p into the first [EventPayloadLen] bytes of dst and
// returns the number of bytes written. It returns [io.ErrShortBuffer] when
// dst is too small and [ErrVolumeRange] when Volume does not fit in 6 bits.
func (p EventPayload) MarshalTo(dst []byte) (int, error) {
	if len(dst) < EventPayloadLen {
		return 0, io.ErrShortBuffer
	}
	if p.Volume > 63 {
		return 0, ErrVolumeRange
	}
	b1 := p.Volume
	if p.End {
		b1 |= 0x80
	}
	dst[0], dst[1], dst[2], dst[3] = p.Code, b1, byte(p.Duration>>8), byte(p.Duration)
	return EventPayloadLen, nil
}

// AppendTo appends the 4-byte encoding of p to dst. On error dst is
// returned unchanged.
func (p EventPayload) AppendTo(dst []byte) ([]byte, error) {
	var b [EventPayloadLen]byte
	if _, err := p.MarshalTo(b[:]); err != nil {
		return dst, err
	}
	return append(dst, b[:]...), nil
}

// AppendEventPayload appends the telephone-event payload for key to dst:
// a shorthand for EventPayload{...}.AppendTo. On error dst is returned
// unchanged.
func AppendEventPayload(dst []byte, key Key, end bool, volume uint8, duration uint16) ([]byte, error) {
	code, ok := key.Code()
	if !ok {
		return dst, ErrInvalidKey
	}
	return EventPayload{Code: code, End: end, Volume: volume, Duration: duration}.AppendTo(dst)
}

// EventPacket is one telephone-event packet as a sender emits it. The RTP
// layer adds the sequence number and SSRC; Timestamp is still to be reduced
// to 32 bits (uint32(Timestamp)).
type EventPacket struct {
	Time      int64 // when a real-time sender emits it, on the event's timeline
	Timestamp int64 // RTP timestamp: the start of the event's segment
	Marker    bool  // set on the first packet of the event only
	Payload   EventPayload
}

// EventGenConfig tunes [GenerateEvent]; zero values select defaults.
type EventGenConfig struct {
	// Interval between update packets, in timestamp units. Zero means
	// 160 (20 ms, one G.711 frame).
	Interval int64
	// EndRepeats is how many times the END packet is sent (RFC 4733
	// §2.5.1.4). Zero means 3.
	EndRepeats int
	// Volume is the level reported in every packet, 0–63 (−dBm0).
	// Zero means 10.
	Volume uint8
}

func (c EventGenConfig) withDefaults() (EventGenConfig, error) {
	if c.Interval == 0 {
		c.Interval = 160
	}
	if c.EndRepeats == 0 {
		c.EndRepeats = 3
	}
	if c.Volume == 0 {
		c.Volume = 10
	}
	switch {
	case c.Interval < 0 || c.Interval > MaxSegmentDuration:
		return c, fmt.Errorf("%w: event interval %d (want 1..%d)", ErrInvalidConfig, c.Interval, MaxSegmentDuration)
	case c.EndRepeats < 0:
		return c, fmt.Errorf("%w: END repeats %d", ErrInvalidConfig, c.EndRepeats)
	case c.Volume > 63:
		return c, ErrVolumeRange
	}
	return c, nil
}

// maxGenDuration bounds GenerateEvent's duration (one hour), so that a
// mistaken argument cannot ask for billions of packets.
const maxGenDuration = 3600 * SampleRate

// EventPacketCount returns how many packets [GenerateEvent] appends for a
// press of the given duration, so that callers can size their storage.
func EventPacketCount(duration int64, cfg EventGenConfig) (int, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return 0, err
	}
	if duration < 0 || duration > maxGenDuration {
		return 0, fmt.Errorf("%w: event duration %d (want 0..%d)", ErrInvalidConfig, duration, maxGenDuration)
	}
	n := 0
	for remaining := duration; ; remaining -= MaxSegmentDuration {
		seg := min(remaining, MaxSegmentDuration)
		n += int((seg - 1) / cfg.Interval) // updates at Interval, 2·Interval, … < seg
		if remaining <= MaxSegmentDuration {
			return n + cfg.EndRepeats, nil
		}
		n++ // the segment's closing packet at MaxSegmentDuration
	}
}

// GenerateEvent appends to dst the telephone-event packets a sender emits
// for one press of key lasting duration timestamp units from start:
//
//   - an update every Interval, reporting the duration so far, the first one
//     with the marker bit;
//   - presses longer than [MaxSegmentDuration] are cut into segments (RFC 4733
//     §2.5.1.3): a segment closes with a packet of duration 0xFFFF without
//     the E bit, and the next segment has the timestamp start+k·0xFFFF, no
//     marker, and durations counted from its own start;
//   - the END packet (E bit, final duration), sent EndRepeats times, one
//     Interval apart.
//
// A press no longer than Interval is thus EndRepeats END packets, the first
// with the marker. dst grows by [EventPacketCount] packets (append
// semantics: give it the capacity to avoid allocation). On error dst is
// returned unchanged.
func GenerateEvent(dst []EventPacket, key Key, start, duration int64, cfg EventGenConfig) ([]EventPacket, error) {
	code, ok := key.Code()
	if !ok {
		return dst, ErrInvalidKey
	}
	if _, err := EventPacketCount(duration, cfg); err != nil {
		return dst, err
	}
	cfg, _ = cfg.withDefaults()
	first := true
	add := func(ts, dur int64, end bool, at int64) {
		dst = append(dst, EventPacket{
			Time:      at,
			Timestamp: ts,
			Marker:    first,
			Payload:   EventPayload{Code: code, End: end, Volume: cfg.Volume, Duration: uint16(dur)},
		})
		first = false
	}
	seg := start
	for remaining := duration; ; remaining -= MaxSegmentDuration {
		n := min(remaining, MaxSegmentDuration)
		for d := cfg.Interval; d < n; d += cfg.Interval {
			add(seg, d, false, seg+d)
		}
		if remaining <= MaxSegmentDuration {
			for i := range cfg.EndRepeats {
				add(seg, n, true, seg+n+int64(i)*cfg.Interval)
			}
			return dst, nil
		}
		add(seg, MaxSegmentDuration, false, seg+MaxSegmentDuration)
		seg += MaxSegmentDuration
	}
}
