package sip

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/pion/rtp"

	"denwa/audio"
	"denwa/dtmf"
	"denwa/media"
)

// CodeKeys is the notation in PhoneConfig.Keys for the code the Phone
// heard: "{code}#" presses the digits of the code the caller read out,
// then #; "*{code}#" presses * first.
const CodeKeys = "{code}"

// The Phone's ear: in challenge mode the caller reads out a code with one
// prompt per digit, and a Phone given those prompts (PhoneConfig.Digits)
// recognises them in the audio it receives, as a person would hear them.
// It matches each received G.711 frame against the frames of the digit
// prompts: a caller that plays a prompt sends its frames byte for byte,
// so over a path that keeps the codec (loopback, a PBX that relays RTP)
// every frame of a digit prompt arrives as it was encoded. There is no
// other channel from the caller to the Phone.
//
// A digit is heard when at least half of its prompt's distinctive frames
// (those no other digit prompt has, silence excluded) arrive in order and
// then 160 ms of something else does. Digits heard one after another form a code; a
// code ends with 1.5 s of quiet or with 100 ms of other speech (the
// prompt after the code).
const (
	earGapEnd   = 8      // frames (20 ms) not of the digit being heard that end it
	earQuietEnd = 75     // quiet frames after a digit that end a code
	earLoudEnd  = 5      // frames of other speech that end a code
	earQuiet    = 1 << 9 // a frame whose samples all stay below this (−36 dBFS) is quiet
)

// digitFrame locates one distinctive frame of a digit prompt.
type digitFrame struct {
	digit, index int
}

// earFrames is what the Phone knows of the digit prompts: their
// distinctive frames in both codecs, and how many of each digit's must
// be heard. Built once, shared by every call; read-only.
type earFrames struct {
	frames map[string]digitFrame
	need   [2][10]int // [PCMU, PCMA][digit]
}

// newEarFrames indexes the frames of digits[d] (the prompt that reads out
// digit d), which must all be set.
func newEarFrames(digits [10]*audio.Prompt) (*earFrames, error) {
	type seen struct {
		ref digitFrame
		n   int
	}
	all := map[string]*seen{}
	for d, p := range digits {
		if p == nil {
			return nil, fmt.Errorf("%w: phone Digits[%d] is missing", ErrConfig, d)
		}
		for _, c := range []audio.Codec{audio.PCMU, audio.PCMA} {
			for i, f := range p.Frames(c) {
				if e := all[string(f)]; e != nil {
					e.n++
				} else {
					all[string(f)] = &seen{ref: digitFrame{d, i}, n: 1}
				}
			}
		}
	}
	e := &earFrames{frames: map[string]digitFrame{}}
	var pcm [audio.FrameSamples]int16
	for d, p := range digits {
		for ci, c := range []audio.Codec{audio.PCMU, audio.PCMA} {
			n := 0
			for _, f := range p.Frames(c) {
				if all[string(f)].n != 1 || quietFrame(pcm[:], f, c) {
					continue
				}
				e.frames[string(f)] = all[string(f)].ref
				n++
			}
			if n == 0 {
				return nil, fmt.Errorf("%w: phone Digits[%d] has no frame of its own (silent, or the same as another digit)", ErrConfig, d)
			}
			e.need[ci][d] = (n + 1) / 2
		}
	}
	return e, nil
}

// quietFrame reports whether the G.711 frame f is quiet; pcm is scratch.
func quietFrame(pcm []int16, f []byte, c audio.Codec) bool {
	if c == audio.PCMA {
		audio.DecodeALawTo(pcm, f)
	} else {
		audio.DecodeULawTo(pcm, f)
	}
	for _, v := range pcm[:len(f)] {
		if v >= earQuiet || v <= -earQuiet {
			return false
		}
	}
	return true
}

// ear listens to one call: it recognises digits in the caller's frames
// and collects the codes heard.
type ear struct {
	ef    *earFrames
	codec audio.Codec
	need  *[10]int

	// Owned by the goroutine that reads the call's socket.
	hdr     rtp.Header
	pcm     [audio.FrameSamples]int16
	cur     int    // digit being heard, -1 none
	last    int    // its last frame index heard
	matched int    // its frames heard
	gap     int    // frames since its last one
	code    []byte // digits of the code being heard
	quiet   int    // quiet frames since the last digit frame
	loud    int    // frames of other speech since then

	mu    sync.Mutex
	codes []string      // codes heard, in order
	more  chan struct{} // closed and replaced when a code is added
}

func newEar(ef *earFrames, codec media.PayloadKind) *ear {
	e := &ear{ef: ef, codec: audio.PCMU, need: &ef.need[0], cur: -1, more: make(chan struct{})}
	if codec == media.KindPCMA {
		e.codec, e.need = audio.PCMA, &ef.need[1]
	}
	return e
}

// hear takes one datagram from the caller.
func (e *ear) hear(b []byte) {
	class, payload := media.ParseDatagram(&e.hdr, b)
	if class != media.ClassRTP || len(payload) != audio.FrameSamples {
		return // telephone-events, RTCP, other frame sizes: not speech we know
	}
	if ref, ok := e.ef.frames[string(payload)]; ok {
		if ref.digit != e.cur || ref.index <= e.last {
			e.endDigit()
			e.cur, e.matched = ref.digit, 0
		}
		e.last = ref.index
		e.matched++
		e.gap, e.quiet, e.loud = 0, 0, 0
		return
	}
	if e.cur >= 0 {
		// A pause inside the word (a stop consonant), a frame lost or
		// changed: the digit goes on unless the gap lasts.
		if e.gap++; e.gap < earGapEnd {
			return
		}
		e.endDigit()
	}
	if quietFrame(e.pcm[:], payload, e.codec) {
		e.loud = 0
		if e.quiet++; e.quiet >= earQuietEnd {
			e.endCode()
		}
		return
	}
	if e.loud++; e.loud >= earLoudEnd {
		e.endCode()
	}
}

// endDigit ends the digit being heard: heard if enough of it came.
func (e *ear) endDigit() {
	if e.cur >= 0 && e.matched >= e.need[e.cur] {
		e.code = append(e.code, byte('0'+e.cur))
	}
	e.cur, e.last, e.matched, e.gap = -1, -1, 0, 0
}

// endCode ends the code being heard, if any.
func (e *ear) endCode() {
	if len(e.code) == 0 {
		return
	}
	e.mu.Lock()
	e.codes = append(e.codes, string(e.code))
	close(e.more)
	e.more = make(chan struct{})
	e.mu.Unlock()
	e.code = e.code[:0]
}

// count returns how many codes have been heard so far; zero for a nil
// ear (a Phone without Digits).
func (e *ear) count() int {
	if e == nil {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.codes)
}

// codeAfter waits for a code heard after the first n and returns the
// latest one and how many there are then.
func (e *ear) codeAfter(ctx context.Context, n int) (string, int, error) {
	for {
		e.mu.Lock()
		codes, more := e.codes, e.more
		e.mu.Unlock()
		if len(codes) > n {
			return codes[len(codes)-1], len(codes), nil
		}
		select {
		case <-more:
		case <-ctx.Done():
			return "", n, ctx.Err()
		}
	}
}

// earConn is the Phone's RTP socket with its ear on it: every datagram
// from the caller's SDP address also goes to the ear, on the goroutine
// that reads the socket.
type earConn struct {
	*sendCounter
	from netip.AddrPort
	ear  *ear
}

func (c *earConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, from, err := c.sendCounter.ReadFromUDPAddrPort(b)
	if err == nil && netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) == c.from {
		c.ear.hear(b[:n])
	}
	return n, from, err
}

// phoneKeys is PhoneConfig.Keys parsed: keys, with CodeKeys as a zero.
func phoneKeys(s string) ([]dtmf.Key, error) {
	var out []dtmf.Key
	for i, part := range strings.Split(s, CodeKeys) {
		if i > 0 {
			out = append(out, 0)
		}
		ks, err := dtmf.ParseKeys(part)
		if err != nil {
			return nil, err
		}
		out = append(out, ks...)
	}
	return out, nil
}
