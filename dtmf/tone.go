package dtmf

import "math"

// The Q.23 tone pairs: each key is one low-group and one high-group frequency.
//
//	        1209 Hz  1336 Hz  1477 Hz  1633 Hz
//	697 Hz     1        2        3        A
//	770 Hz     4        5        6        B
//	852 Hz     7        8        9        C
//	941 Hz     *        0        #        D
var keyGrid = [4][4]Key{
	{'1', '2', '3', 'A'},
	{'4', '5', '6', 'B'},
	{'7', '8', '9', 'C'},
	{'*', '0', '#', 'D'},
}

// keyTones maps a key character to 1+row and 1+column of keyGrid (0 = not a key).
var keyTones = func() (t [256][2]uint8) {
	for r, row := range keyGrid {
		for c, k := range row {
			t[k] = [2]uint8{uint8(r) + 1, uint8(c) + 1}
		}
	}
	return t
}()

// KeyFreqs returns the nominal low-group and high-group frequencies of k in
// Hz (ITU-T Q.23), and false for an invalid key.
func KeyFreqs(k Key) (low, high float64, ok bool) {
	t := keyTones[k]
	if t[0] == 0 {
		return 0, 0, false
	}
	return freqs[t[0]-1], freqs[4+t[1]-1], true
}

// Levels. A full-scale μ-law sine has peak 32124 once decoded to 16 bits;
// 0 dBm0 is a sine 3.17 dB below it (ITU-T G.711).
const (
	ulawFullScalePeak = 32124
	fullScaleDBm0     = 3.17
)

// Amplitude returns the peak amplitude of a sine at level dBm0, in the
// linear 16-bit units of G.711 decoding (0 dBm0 ≈ 22301).
func Amplitude(dBm0 float64) float64 {
	return ulawFullScalePeak * math.Pow(10, (dBm0-fullScaleDBm0)/20)
}

// Tone is one key press as a tone pair followed by silence, for the phone
// simulator and for tests. The zero value of each field other than Key is a
// usable default: a 0 dBm0 pair without twist or deviation, starting at zero
// phase, of zero length — so set Duration.
//
// A Tone is a description, not a stream: [Tone.AddTo] computes any stretch of
// it from the sample offset, so a long press can be written block by block
// with continuous phase and without allocation.
type Tone struct {
	Key Key
	// Level is the level of the low-group tone in dBm0 (0 = 0 dBm0). Two
	// tones above about −3 dBm0 each exceed the int16 (and G.711) range
	// together and are clipped.
	Level float64
	// Twist is the level of the high-group tone relative to the low-group
	// tone in dB: positive means the high tone is louder.
	Twist float64
	// LowDev and HighDev are the relative frequency deviations of the two
	// tones: 0.015 makes a tone 1.5 % high, −0.015 1.5 % low.
	LowDev, HighDev float64
	// LowPhase and HighPhase are the phases of the two cosines at the first
	// sample, in radians.
	LowPhase, HighPhase float64
	// Duration is the length of the tone pair and Gap the silence after it,
	// both in samples at 8000 Hz.
	Duration, Gap int
}

// Len returns Duration+Gap: the samples the Tone spans.
func (t *Tone) Len() int { return t.Duration + t.Gap }

// AddTo adds the samples at+0 … at+len(dst)−1 of the tone (counted from its
// first sample) into dst, saturating at the int16 limits. Samples outside
// [0, Duration) add nothing. An invalid Key adds nothing.
func (t *Tone) AddTo(dst []int16, at int) {
	fl, fh, ok := KeyFreqs(t.Key)
	if !ok {
		return
	}
	wl := 2 * math.Pi * fl * (1 + t.LowDev) / SampleRate
	wh := 2 * math.Pi * fh * (1 + t.HighDev) / SampleRate
	al := Amplitude(t.Level)
	ah := Amplitude(t.Level + t.Twist)
	lo, hi := max(0, -at), min(len(dst), t.Duration-at)
	for i := lo; i < hi; i++ {
		n := float64(at + i)
		v := float64(dst[i]) + al*math.Cos(wl*n+t.LowPhase) + ah*math.Cos(wh*n+t.HighPhase)
		dst[i] = sat16(v)
	}
}

// sat16 rounds v to the nearest int16, saturating.
func sat16(v float64) int16 {
	v = math.Round(v)
	if v > math.MaxInt16 {
		return math.MaxInt16
	}
	if v < math.MinInt16 {
		return math.MinInt16
	}
	return int16(v)
}
