package mediatest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"denwa/dtmf"
)

// Sent is one key press as it was sent: the truth a capture holds.
type Sent struct {
	Stream int           // index in order of first packet (see Capture.Order)
	At     time.Duration // from the stream's first sample
	Key    dtmf.Key
	Mode   Mode
}

// Order returns the indexes of c.Streams in the order of their first
// packets (by Start; ties keep the order of Streams).
func (c Capture) Order() []int {
	idx := make([]int, len(c.Streams))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmpDur(c.Streams[a].Start, c.Streams[b].Start) })
	return idx
}

// Sent lists every key press of c, stream by stream in order of first
// packet. A press sent both ways is one press.
func (c Capture) Sent() []Sent {
	var out []Sent
	for n, i := range c.Order() {
		for _, p := range c.Streams[i].Presses {
			out = append(out, Sent{Stream: n, At: p.At, Key: p.Key, Mode: p.Mode.norm()})
		}
	}
	return out
}

// Digits renders the expected keys in the format of the .digits golden
// files: one line per stream, in order of first packet, holding the keys
// sent on it ("*#"); a stream without keys gives an empty line.
func (c Capture) Digits() string {
	var b strings.Builder
	for _, i := range c.Order() {
		for _, p := range c.Streams[i].Presses {
			b.WriteByte(byte(p.Key))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Keys renders the presses in the format of the .keys golden files: one
// line per press, "STREAM SECONDS KEY MODE", where STREAM counts from 0 in
// order of first packet, SECONDS is the press's start from the stream's
// first sample (3 decimals) and MODE is rfc4733, inband or both.
func (c Capture) Keys() string {
	var b strings.Builder
	b.WriteString("# stream seconds key mode\n")
	for _, s := range c.Sent() {
		fmt.Fprintf(&b, "%d %.3f %c %s\n", s.Stream, s.At.Seconds(), byte(s.Key), s.Mode)
	}
	return b.String()
}

// LoadStreams plans n concurrent streams of duration d each, for a big
// capture written by WriteStreams: stream i starts i·20ms/n after the
// first (so the order of first packets is the order of the slice), runs
// from 192.0.2.x to 198.51.100.1, alternates PCMU and PCMA, uses
// telephone-event payload type 101 (every fifth stream 96), and carries
// keys presses of 100 ms spread evenly over its length, cycling through
// RFC4733, Inband and Both. SSRCs, sequence numbers, timestamps and keys
// come from seed.
func LoadStreams(n int, d time.Duration, keys int, seed uint64) []Stream {
	rng := rand.New(rand.NewPCG(seed, 0x64656e7761))
	const alphabet = "0123456789*#"
	streams := make([]Stream, n)
	for i := range streams {
		s := Stream{
			SSRC:      rng.Uint32(),
			Src:       netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i%250)}), uint16(10000+2*(i%25000))),
			Dst:       netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, 1}), uint16(40000+2*(i%12000))),
			AudioPT:   []uint8{PCMU, PCMA}[i%2],
			Seq:       uint16(rng.Uint32()),
			Timestamp: rng.Uint32(),
			Start:     time.Duration(i) * 20 * time.Millisecond / time.Duration(max(n, 1)),
			Duration:  d,
		}
		if i%5 == 4 {
			s.EventPT = 96
		}
		slot := d / time.Duration(keys+1)
		for k := range keys {
			at := (slot * time.Duration(k+1)).Truncate(20 * time.Millisecond)
			if at+100*time.Millisecond > d {
				break
			}
			s.Presses = append(s.Presses, Press{
				Key:  dtmf.Key(alphabet[rng.IntN(len(alphabet))]),
				At:   at,
				Mode: []Mode{RFC4733, Inband, Both}[(i+k)%3],
			})
		}
		streams[i] = s
	}
	return streams
}
