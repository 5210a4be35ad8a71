package mediatest

import (
	"io"
	"math"

	"denwa/dtmf"

	"github.com/zaf/g711"
)

// Static RTP payload types of the G.711 codecs (RFC 3551 §6).
const (
	PCMU uint8 = 0
	PCMA uint8 = 8
)

// DefaultEventPT is the telephone-event payload type used when a Stream
// leaves EventPT zero; it is the one most senders pick.
const DefaultEventPT uint8 = 101

// SampleRate is the sampling rate of G.711 and of the RTP clock of both
// payloads, in Hz.
const SampleRate = 8000

// FullScale is the amplitude (int16) of a sine at 0 dBm0 in G.711 (ITU-T
// G.711 puts 0 dBm0 about 3.17 dB below the coder's maximum).
const FullScale = 22300

// DefaultLevel is the level of each of the two tones of a key, in dBm0.
const DefaultLevel = -10.0

// The DTMF frequencies of ITU-T Q.23, in Hz: rows (low group) and columns
// (high group) of the keypad.
var (
	LowFreqs  = [4]float64{697, 770, 852, 941}
	HighFreqs = [4]float64{1209, 1336, 1477, 1633}
)

// keypad lays the 16 keys out as Q.23 does: row i uses LowFreqs[i], column j
// HighFreqs[j].
var keypad = [4][4]dtmf.Key{
	{'1', '2', '3', 'A'},
	{'4', '5', '6', 'B'},
	{'7', '8', '9', 'C'},
	{'*', '0', '#', 'D'},
}

// Freqs returns the low and high frequency of key k, and false if k is not
// one of the 16 DTMF keys.
func Freqs(k dtmf.Key) (low, high float64, ok bool) {
	for i, row := range keypad {
		for j, c := range row {
			if c == k {
				return LowFreqs[i], HighFreqs[j], true
			}
		}
	}
	return 0, 0, false
}

// Amplitude converts a level in dBm0 into the peak amplitude of a sine.
func Amplitude(dBm0 float64) float64 { return FullScale * math.Pow(10, dBm0/20) }

// ToneTo adds the tone pair of key k into dst: dst[i] gets sample off+i of a
// tone that starts at sample 0, with each tone at lowLevel / highLevel dBm0.
// Sums are clipped to int16. It reports false for an invalid key.
func ToneTo(dst []int16, off int, k dtmf.Key, lowLevel, highLevel float64) bool {
	fl, fh, ok := Freqs(k)
	if !ok {
		return false
	}
	al, ah := Amplitude(lowLevel), Amplitude(highLevel)
	wl, wh := 2*math.Pi*fl/SampleRate, 2*math.Pi*fh/SampleRate
	for i := range dst {
		n := float64(off + i)
		v := float64(dst[i]) + al*math.Sin(wl*n) + ah*math.Sin(wh*n)
		dst[i] = int16(max(math.MinInt16, min(math.MaxInt16, math.Round(v))))
	}
	return true
}

// EncodeTo writes the G.711 encoding (payload type PCMU or PCMA) of src into
// dst, one byte per sample, and returns the number of bytes written. It
// returns io.ErrShortBuffer, writing nothing, when dst is shorter than src.
func EncodeTo(dst []byte, src []int16, pt uint8) (int, error) {
	if len(dst) < len(src) {
		return 0, io.ErrShortBuffer
	}
	if pt == PCMA {
		for i, v := range src {
			dst[i] = g711.EncodeAlawFrame(v)
		}
		return len(src), nil
	}
	for i, v := range src {
		dst[i] = g711.EncodeUlawFrame(v)
	}
	return len(src), nil
}

// Silence returns the G.711 byte of a zero sample: 0xFF for PCMU, 0xD5 for
// PCMA.
func Silence(pt uint8) byte {
	if pt == PCMA {
		return g711.EncodeAlawFrame(0)
	}
	return g711.EncodeUlawFrame(0)
}
