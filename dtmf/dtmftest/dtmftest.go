// Package dtmftest synthesizes signals for testing the in-band DTMF detector:
// band-limited noise, speech-like and music-like sounds, and helpers to mix
// and measure them. Tone pairs themselves come from [denwa/dtmf.Tone].
//
// Every generator writes into (or adds into) a caller-owned []int16 at 8000
// Hz and is deterministic for a given seed, so a failing case can be rerun.
// Nothing here allocates per sample; generators hold only their own state.
package dtmftest

import (
	"math"
	"math/rand/v2"
)

const sampleRate = 8000

// Sat16 rounds v to the nearest int16, saturating.
func Sat16(v float64) int16 {
	v = math.Round(v)
	if v > math.MaxInt16 {
		return math.MaxInt16
	}
	if v < math.MinInt16 {
		return math.MinInt16
	}
	return int16(v)
}

// Amplitude returns the peak amplitude of a sine at level dBm0 (0 dBm0 is a
// sine 3.17 dB below a full-scale μ-law sine of peak 32124).
func Amplitude(dBm0 float64) float64 {
	return 32124 * math.Pow(10, (dBm0-3.17)/20)
}

// Power returns the mean square of x (0 for an empty slice).
func Power(x []int16) float64 {
	if len(x) == 0 {
		return 0
	}
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s / float64(len(x))
}

// PowerDBm0 returns the level of x in dBm0 (a 0 dBm0 sine has power
// Amplitude(0)²/2).
func PowerDBm0(x []int16) float64 {
	a := Amplitude(0)
	return 10 * math.Log10(Power(x)/(a*a/2))
}

// Mix adds src scaled by gainDB into dst (saturating), over the shorter of
// the two.
func Mix(dst, src []int16, gainDB float64) {
	g := math.Pow(10, gainDB/20)
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = Sat16(float64(dst[i]) + g*float64(src[i]))
	}
}

// Scale multiplies x in place by gainDB (saturating).
func Scale(x []int16, gainDB float64) {
	g := math.Pow(10, gainDB/20)
	for i, v := range x {
		x[i] = Sat16(g * float64(v))
	}
}

// biquad is a direct-form-I second-order section.
type biquad struct {
	b0, b1, b2, a1, a2 float64
	x1, x2, y1, y2     float64
}

func (f *biquad) step(x float64) float64 {
	y := f.b0*x + f.b1*f.x1 + f.b2*f.x2 - f.a1*f.y1 - f.a2*f.y2
	f.x2, f.x1 = f.x1, x
	f.y2, f.y1 = f.y1, y
	return y
}

// RBJ cookbook designs.
func lowpass(fc, q float64) biquad {
	w := 2 * math.Pi * fc / sampleRate
	al := math.Sin(w) / (2 * q)
	c := math.Cos(w)
	a0 := 1 + al
	return biquad{b0: (1 - c) / 2 / a0, b1: (1 - c) / a0, b2: (1 - c) / 2 / a0, a1: -2 * c / a0, a2: (1 - al) / a0}
}

func highpass(fc, q float64) biquad {
	w := 2 * math.Pi * fc / sampleRate
	al := math.Sin(w) / (2 * q)
	c := math.Cos(w)
	a0 := 1 + al
	return biquad{b0: (1 + c) / 2 / a0, b1: -(1 + c) / a0, b2: (1 + c) / 2 / a0, a1: -2 * c / a0, a2: (1 - al) / a0}
}

func bandpass(fc, bw float64) biquad {
	w := 2 * math.Pi * fc / sampleRate
	q := fc / bw
	al := math.Sin(w) / (2 * q)
	c := math.Cos(w)
	a0 := 1 + al
	return biquad{b0: al / a0, b1: 0, b2: -al / a0, a1: -2 * c / a0, a2: (1 - al) / a0}
}

// Noise is Gaussian noise band-limited to the telephone band 300–3400 Hz
// (4th-order Butterworth high- and low-pass), scaled to a chosen power.
type Noise struct {
	rng  *rand.Rand
	f    [4]biquad
	gain float64
}

// NewNoise returns band-limited noise whose mean square is power (in
// squared 16-bit units; see [Power]), seeded by seed.
func NewNoise(seed uint64, power float64) *Noise {
	n := &Noise{rng: rand.New(rand.NewPCG(seed, 0x6e6f697365))}
	n.f = [4]biquad{highpass(300, 0.5412), highpass(300, 1.3066), lowpass(3400, 0.5412), lowpass(3400, 1.3066)}
	// Calibrate the filter's noise gain on a private copy.
	c := Noise{rng: rand.New(rand.NewPCG(seed, 0x63616c)), f: n.f, gain: 1}
	var s float64
	const m = 1 << 16
	for range m {
		v := c.next()
		s += v * v
	}
	n.gain = math.Sqrt(power / (s / m))
	return n
}

func (n *Noise) next() float64 {
	v := n.rng.NormFloat64()
	for i := range n.f {
		v = n.f[i].step(v)
	}
	return v * n.gain
}

// AddTo adds the next len(dst) noise samples into dst (saturating).
func (n *Noise) AddTo(dst []int16) {
	for i := range dst {
		dst[i] = Sat16(float64(dst[i]) + n.next())
	}
}

// Speech is a crude speech-like source: a glottal pulse train whose pitch
// glides and jumps, shaped by three formant resonators that move from vowel
// to vowel, with unvoiced (noise) stretches and pauses between syllables.
// It stresses a detector with harmonic-rich, slowly varying spectra.
type Speech struct {
	rng       *rand.Rand
	amp       float64
	f0, f0End float64 // pitch glide over the syllable, Hz
	phase     float64
	left, syl int // samples left in the syllable / its length
	voiced    bool
	pause     bool
	form      [3]biquad
	hp        biquad
}

// vowel formants (F1, F2, F3) in Hz, roughly a i u e o.
var vowels = [][3]float64{{800, 1200, 2500}, {300, 2300, 3000}, {350, 1250, 2300}, {500, 1900, 2500}, {500, 850, 2500}}

// NewSpeech returns a speech-like source of roughly the given level in dBm0
// (averaged over syllables), seeded by seed.
func NewSpeech(seed uint64, dBm0 float64) *Speech {
	s := &Speech{rng: rand.New(rand.NewPCG(seed, 0x7370656563)), hp: highpass(200, 0.707)}
	s.amp = Amplitude(dBm0) * 0.25
	return s
}

func (s *Speech) syllable() {
	r := s.rng
	s.syl = 400 + r.IntN(1600) // 50–250 ms
	s.left = s.syl
	s.pause = r.IntN(6) == 0
	s.voiced = r.IntN(5) != 0
	s.f0 = 90 + 180*r.Float64()
	s.f0End = s.f0 * (0.7 + 0.6*r.Float64())
	v := vowels[r.IntN(len(vowels))]
	for i := range s.form {
		f := v[i] * (0.85 + 0.3*r.Float64())
		s.form[i] = bandpass(f, 60+40*float64(i))
	}
}

// AddTo adds the next len(dst) samples into dst (saturating).
func (s *Speech) AddTo(dst []int16) {
	for i := range dst {
		if s.left == 0 {
			s.syllable()
		}
		s.left--
		if s.pause {
			continue
		}
		t := 1 - float64(s.left)/float64(s.syl)
		var e float64
		if s.voiced {
			f0 := s.f0 + (s.f0End-s.f0)*t
			s.phase += f0 / sampleRate
			if s.phase >= 1 {
				s.phase--
				e = 1
			}
			e *= 40
		} else {
			e = s.rng.NormFloat64() * 2
		}
		env := math.Sin(math.Pi * t) // syllable envelope
		var v float64
		for k := range s.form {
			v += s.form[k].step(e) / float64(k+1)
		}
		dst[i] = Sat16(float64(dst[i]) + s.hp.step(v)*env*s.amp)
	}
}

// Note is one musical voice for [Chord]: a fundamental with harmonics.
type Note struct {
	Freq float64 // fundamental, Hz
	// Harmonics are the amplitudes of the fundamental, 2nd, 3rd, … harmonic
	// relative to the chord's level.
	Harmonics []float64
}

// Chord adds, into dst, the samples at+0 … of notes sounding together at
// level dBm0 (each harmonic amplitude 1 is a sine at that level).
func Chord(dst []int16, at int, dBm0 float64, notes ...Note) {
	a := Amplitude(dBm0)
	for i := range dst {
		n := float64(at + i)
		var v float64
		for _, no := range notes {
			for h, ha := range no.Harmonics {
				v += ha * math.Sin(2*math.Pi*no.Freq*float64(h+1)*n/sampleRate+float64(h))
			}
		}
		dst[i] = Sat16(float64(dst[i]) + a*v)
	}
}

// Sweep adds a linear chirp from f0 to f1 Hz over len(dst) samples at level
// dBm0, with the given relative harmonic amplitudes (nil = a pure sine).
func Sweep(dst []int16, f0, f1, dBm0 float64, harmonics []float64) {
	if harmonics == nil {
		harmonics = []float64{1}
	}
	a := Amplitude(dBm0)
	n := float64(len(dst))
	var ph float64
	for i := range dst {
		f := f0 + (f1-f0)*float64(i)/n
		ph += 2 * math.Pi * f / sampleRate
		var v float64
		for h, ha := range harmonics {
			v += ha * math.Sin(float64(h+1)*ph)
		}
		dst[i] = Sat16(float64(dst[i]) + a*v)
	}
}

// EqualTempered returns the frequency of MIDI note m (69 = A4 = 440 Hz).
func EqualTempered(m int) float64 {
	return 440 * math.Pow(2, float64(m-69)/12)
}

// Music adds a music-like passage into dst: random chords of three or four
// equal-tempered notes with harmonic-rich timbres, arpeggios and glides,
// changing every 100–600 ms, at roughly level dBm0, seeded by seed.
func Music(dst []int16, seed uint64, dBm0 float64) {
	r := rand.New(rand.NewPCG(seed, 0x6d75736963))
	timbres := [][]float64{
		{0.6, 0.3, 0.2, 0.1},            // mellow
		{0.5, 0.25, 0.17, 0.12, 0.1},    // saw-like
		{0.6, 0, 0.2, 0, 0.12},          // clarinet-like (odd)
		{0.4, 0.4, 0.3, 0.2, 0.15, 0.1}, // bright
	}
	var notes [4]Note
	for at := 0; at < len(dst); {
		seg := 800 + r.IntN(4000)
		end := min(len(dst), at+seg)
		nn := 3 + r.IntN(2)
		root := 55 + r.IntN(30) // G3 … C6
		steps := [][]int{{0, 4, 7, 12}, {0, 3, 7, 10}, {0, 4, 7, 11}, {0, 5, 9, 14}, {0, 2, 7, 16}}[r.IntN(5)]
		tb := timbres[r.IntN(len(timbres))]
		for i := range nn {
			notes[i] = Note{Freq: EqualTempered(root + steps[i]), Harmonics: tb}
		}
		switch r.IntN(4) {
		case 0: // arpeggio: notes one after another
			step := (end - at) / nn
			for i := range nn {
				s, e := at+i*step, at+(i+1)*step
				Chord(dst[s:e], s, dBm0-2, notes[i])
			}
		case 1: // glide between two pitches
			Sweep(dst[at:end], notes[0].Freq, notes[nn-1].Freq, dBm0-3, tb)
		default:
			Chord(dst[at:end], at, dBm0-6, notes[:nn]...)
		}
		at = end
	}
}
