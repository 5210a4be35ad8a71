package dtmf

import (
	"fmt"
	"math"
	"math/cmplx"
)

// The in-band detector (ITU-T Q.23 tones, Q.24 reception limits).
//
// Analysis. The kernel (corr.go) correlates each 40-sample sub-block (5 ms)
// with the 8 DTMF frequencies: C_k,m = Σ_j x[40m+j]·e^{+iω_k j}, plus the
// sub-block energy. Each result is rotated by the phase of its start on the
// absolute timeline, D_k,m = C_k,m·e^{iω_k·40m}, so that the sum of
// consecutive D is the coherent correlation over their whole span and the
// product D_m+1·conj(D_m) turns with the tone's frequency offset:
//
//	tone A·cos((ω_k+δ)n+φ)  →  D_k,m ≈ (A/2)·e^{-iφ}·Σ_j e^{-iδ(40m+j)}
//	D_k,m+1·conj(D_k,m) ∝ e^{-iδ·40}
//
// A window is the last 4 sub-blocks (160 samples, 20 ms), evaluated every
// sub-block (5 ms hop). For each window:
//
//  0. pre-filter, per sub-block: the strongest low and high correlation must
//     carry a quarter of the sub-block's energy, else no window holding it
//     is looked at (a sub-block's correlations are rotated only once a
//     window that needs them gets past the silence test);
//  1. silence: window energy below what the weakest accepted tone brings → no;
//  2. the strongest low-group and high-group frequency by coherent 160-sample
//     power; each must beat the other three of its group by 6 dB;
//  3. each tone's sub-block correlations, with the other tone's leakage
//     removed (at 40 samples 1209 Hz still shows −18 dB in the 697 Hz
//     correlation, enough to bend its phase); frequency offset from the
//     phase advance between the two 80-sample halves (fine, unambiguous to
//     ±50 Hz) checked against the advance between 40-sample sub-blocks
//     (coarse, to ±100 Hz); both within MaxFreqDev (Q.24: accept ±1.5 %,
//     reject ±3.5 %);
//  4. tone power, corrected for that offset (each sub-block turned back),
//     gives each tone's level: at least MinLevel, twist within limits;
//  5. relative energy: the two tones carry at least RelEnergy of the window
//     energy — this rejects speech, music, noise, harmonic-rich sounds and
//     windows partly filled by silence;
//  6. steadiness: no sub-block carries less than 55 % of the mean sub-block
//     energy, so a window must be (almost) entirely inside a tone.
//
// There is no separate second-harmonic test: the sub-block correlations
// cannot see 2f, and the two ways a harmonic could pose as a pair are
// covered — other harmonics count against the relative energy (5), and
// with MaxFreqDev at 2 % no tone and its own second harmonic fit a pair.
//
// A window that passes is a hit for the key of that pair.
//
// Timing. A key goes down after MinHits consecutive hits of the same key
// (4 hits at 5 ms span 35 ms: a 40 ms tone always holds 4 full windows, a
// 25 ms tone at most 2) and up after MinMisses consecutive non-hits (8: a
// break of 10 ms spoils at most 6 windows, a 40 ms pause at least 9).
// Before going down, the frequency of each tone must also have stayed
// within MaxSpread over the last MinHits windows (a harmonic of gliding
// speech wanders; a key does not). The event spans the first to the last
// hit window, each edge refined from the tone's share of the sub-blocks at
// the edge (within about ±12 samples of the true tone edges).
//
// Missing audio. A receiver that lost a packet says so (Missing) instead
// of passing silence: the samples are analysed as zeros to keep the
// timeline, and every window that holds any of them is "unknown", neither
// hit nor miss. While a key is down and its last window was a hit, or
// while a run of hits builds towards MinHits, unknown windows wait: if the
// next known window is a hit of the same key, the loss is bridged (the key
// stays down, the run goes on); otherwise they count as misses. A loss
// after the tone had already stopped (a miss before it) counts as misses
// at once, so a pause seen in part is never bridged; and more than
// maxBridge unknown windows in a row (a loss of more than 60 ms) count as
// misses too. Missing audio alone never makes a hit, so never a key; but
// since a tone may have gone on in it, a run of hits that a loss cuts
// needs fewer of them: 2 when the tone is heard on both sides of the loss,
// MinHits−1 when the loss is at one end and the tone was heard for 28 ms
// (a tone of 25 ms or less is still never a key).
//
// Acceptance. Every test above, the MinHits run and the MaxSpread check
// are decided by the time the key goes down; nothing is checked when the
// tone ends (the end refit only moves End). A key that went down is
// always reported, once, and its Start is fixed when it goes down. So
// reporting it at that moment (Config.Early) gives the same keys with the
// same Start as reporting it at its end: only End and the moment differ.

const (
	window  = 4  // sub-blocks per analysis window
	ringLen = 8  // sub-blocks kept (power of two ≥ window+1)
	batch   = 32 // most sub-blocks per kernel call
	// rawLen: kernel results kept, a power of two ≥ batch+ringLen. The
	// kernel writes them in place, up to a batch ahead of the sub-block
	// being analysed.
	rawLen  = 64
	maxHits = 16 // largest MinHits
	// maxBridge: the most unknown windows (see Missing) that wait for the
	// next known window; a loss of 3 packets of 20 ms spoils 12+3.
	maxBridge = 15
	// edgeSpan: how long (28 ms) a tone that a loss cuts must be heard to
	// count with MinHits−1 hit windows: a 25 ms tone, which Q.24 says to
	// reject, can fill 3 windows, a 30 ms one is heard for 30.
	edgeSpan = 224
	// rotPeriod: ω_k·40 = 2π·f_k/200, and every f_k is a whole number of
	// Hz, so e^{iω_k·40m} repeats after 200 sub-blocks.
	rotPeriod = 200
	winLen    = window * subBlock // 160
)

// Config tunes a Detector. The zero value selects the defaults documented on
// each field; [Config.Validate] reports values that make no sense.
type Config struct {
	// MinLevel is the weakest tone accepted, in dBm0 per tone. 0 selects
	// −45 dBm0: Q.24 asks for reception down to about −36 dBm0 per tone
	// (with 8 dB twist the weaker tone is then near −44), and −50 dBm0 is
	// still ignored.
	MinLevel float64
	// NormalTwist is how far (dB) the high-group tone may lie below the
	// low-group tone. 0 selects 10: Q.24's 8 dB plus 2 dB for measurement
	// and line error.
	NormalTwist float64
	// ReverseTwist is how far (dB) the high-group tone may lie above the
	// low-group tone. 0 selects 7: NTT lines need 5 dB (not the usual 4),
	// plus 2 dB margin.
	ReverseTwist float64
	// MaxFreqDev is the largest relative frequency offset accepted for
	// either tone. 0 selects 0.02: Q.24 asks to accept 1.5 % and reject
	// 3.5 %, and below 2.15 % no tone with a strong second harmonic can
	// pose as a pair (2·697 Hz is 4.3 % above 1336 Hz, 2·770 above 1477,
	// 2·852 above 1633).
	MaxFreqDev float64
	// RelEnergy is the least share of a window's energy the two tones must
	// carry. 0 selects 0.7.
	RelEnergy float64
	// MaxSpread is how much (Hz) the frequency of either tone may wander
	// over the last MinHits windows before a key goes down. 0 selects 20:
	// a key tone is steady, a harmonic of gliding speech is not; tighter
	// limits lose keys pressed over loud echo (noise bends the estimate).
	MaxSpread float64
	// MinHits is the number of consecutive hit windows (5 ms apart) that
	// make a key go down. 0 selects 4 (accepts 40 ms, rejects 25 ms).
	MinHits int
	// MinMisses is the number of consecutive non-hit windows that make a
	// key go up. 0 selects 8 (bridges 10 ms breaks, splits at 40 ms pauses).
	MinMisses int
	// Early reports each key when it goes down, the moment its tone is
	// accepted (MinHits hit windows: 32–38 ms into a tone with the
	// defaults), instead of once the tone has been gone for the hangover
	// time. The keys and their Start are exactly those reported without
	// Early (acceptance is complete when a key goes down); End is then the
	// end of the window in which the tone was accepted: within the tone,
	// give or take part of a 5 ms sub-block. False (the zero value)
	// reports keys when they end, with both edges refined.
	Early bool
}

// ConfigError reports a Config field with an unusable value.
type ConfigError struct {
	Field  string
	Value  float64
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("dtmf: Config.%s = %g: %s", e.Field, e.Value, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) hold.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Validate reports the first unusable field as a *ConfigError, or nil.
func (c Config) Validate() error {
	switch {
	case c.MinLevel > 3.17:
		return &ConfigError{"MinLevel", c.MinLevel, "above the G.711 maximum of +3.17 dBm0"}
	case c.NormalTwist < 0 || c.NormalTwist > 30:
		return &ConfigError{"NormalTwist", c.NormalTwist, "must be within 0–30 dB"}
	case c.ReverseTwist < 0 || c.ReverseTwist > 30:
		return &ConfigError{"ReverseTwist", c.ReverseTwist, "must be within 0–30 dB"}
	case c.MaxFreqDev < 0 || c.MaxFreqDev > 0.05:
		return &ConfigError{"MaxFreqDev", c.MaxFreqDev, "must be within 0–0.05 (neighbouring tones are 9 % apart)"}
	case c.RelEnergy < 0 || c.RelEnergy > 1:
		return &ConfigError{"RelEnergy", c.RelEnergy, "must be within 0–1"}
	case c.MaxSpread < 0 || c.MaxSpread > 100:
		return &ConfigError{"MaxSpread", c.MaxSpread, "must be within 0–100 Hz"}
	case c.MinHits < 0 || c.MinHits > maxHits:
		return &ConfigError{"MinHits", float64(c.MinHits), "must be within 0–16"}
	case c.MinMisses < 0 || c.MinMisses > 64:
		return &ConfigError{"MinMisses", float64(c.MinMisses), "must be within 0–64"}
	}
	return nil
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MinLevel, -45)
	def(&c.NormalTwist, 10)
	def(&c.ReverseTwist, 7)
	def(&c.MaxFreqDev, 0.02)
	def(&c.RelEnergy, 0.7)
	def(&c.MaxSpread, 20)
	if c.MinHits == 0 {
		c.MinHits = 4
	}
	if c.MinMisses == 0 {
		c.MinMisses = 8
	}
	return c
}

// Fixed tuning that is not worth a Config field.
const (
	dominanceDB = 6    // strongest tone of a group over each other tone of it
	steadiness  = 0.55 // least sub-block energy, relative to the window mean
	// tonalShare is the least share of a sub-block's energy its strongest
	// low and high tone must carry. It is a cheap pre-filter, loose enough
	// (a hit window's sub-blocks carry 0.5 and more: an edge sub-block
	// only partly filled, 6 dB SNR, 2 % offset) never to decide alone.
	tonalShare = 0.25
	// coarseDevExtra widens the coarse (40-sample) offset check over
	// MaxFreqDev: it only has to rule out offsets the fine check would alias.
	coarseDevExtra = 0.01
)

// Shared immutable tables.
var (
	table = newCorrTable()
	// leak[k][h] = Σ_{j<40} e^{i(ω_k−ω_h)j} / 40: how a tone at exactly
	// freqs[h] shows in the sub-block correlation of freqs[k], relative to
	// its own.
	leak = func() (l [8][8]complex128) {
		for k, fk := range freqs {
			for h, fh := range freqs {
				for j := range subBlock {
					l[k][h] += cmplx.Rect(1.0/subBlock, 2*math.Pi*(fk-fh)*float64(j)/SampleRate)
				}
			}
		}
		return l
	}()
	// peakBound·Σ_m peak_m bounds P_lo+P_hi of test 5 from above. With
	// |u| = 1 in tone, P_lo = |Σ_m tl_m·u^m|² ≤ (Σ_m |tl_m|)², and
	// |tl_m| ≤ |C_lo,m| + λ|C_hi,m| with λ = the largest |leak| between the
	// groups (the rotations have modulus 1). With a_m, b_m the strongest
	// low- and high-group |C| of sub-block m (peak_m = a_m² + b_m²) and
	// A = Σ_m a_m, B = Σ_m b_m: P_lo+P_hi ≤ (A+λB)² + (B+λA)² ≤
	// (1+λ)²(A²+B²) ≤ 4(1+λ)²·Σ_m peak_m (Cauchy–Schwarz over the 4
	// sub-blocks). The factor 1+1e-5 covers every rounding on the way (the
	// float32 powers, the float64 sums: all far below 1e-6 relative).
	peakBound = func() float64 {
		var l float64
		for k := range 4 {
			for h := 4; h < 8; h++ {
				l = max(l, cmplx.Abs(leak[k][h]), cmplx.Abs(leak[h][k]))
			}
		}
		return window * (1 + l) * (1 + l) * (1 + 1e-5)
	}()
	// rot[m][k] = e^{iω_k·40m}, the start phase of sub-block m (mod rotPeriod).
	rot = func() (r [rotPeriod][8]complex128) {
		for m := range rotPeriod {
			for k, f := range freqs {
				r[m][k] = cmplx.Rect(1, 2*math.Pi*f*float64(m*subBlock)/SampleRate)
			}
		}
		return r
	}()
)

// params are the thresholds derived from a Config.
type params struct {
	minEnergy float64    // window energy below which nothing is looked at
	minPow    float64    // |S|² of a tone at MinLevel
	twistLo   float64    // least P_high/P_low
	twistHi   float64    // largest P_high/P_low
	dominance float64    // power ratio
	relEnergy float64    // (P_lo+P_hi) ≥ relEnergy·E (both scaled, see window)
	cosFine   [8]float64 // cos of the largest accepted phase advance per 80 samples
	cosCoarse [8]float64 // … per 40 samples
	maxSpread float64    // largest change of phase advance per 80 samples over a run
	minHits   int
	minMisses int
	early     bool
}

// Detector finds DTMF keys in one channel of 8 kHz linear PCM. It is a plain
// value: not safe for concurrent use, and Process neither allocates nor
// blocks. Create it with NewDetector.
type Detector struct {
	corr func(out []bins, x []int16, t *corrTable) // corrBest; tests force corrGo
	params
	trace        func(m int64, k Key, rel, pl, ph, e float64)
	pos          int64 // samples consumed
	nsb          int64 // sub-blocks completed
	nbuf         int
	buf          [subBlock]int16
	ring         [ringLen][8]complex128 // D_k,m at ring[m%ringLen] once rotM says so
	rotM         [ringLen]int64         // 1+m when ring[m%ringLen] holds D_·,m (rotation is lazy)
	tonal        uint64                 // bit i: sub-block nsb−1−i passed the pre-filter (see analyse)
	gone         uint64                 // bit i: sub-block nsb−1−i holds missing samples (see Missing)
	bufGone      bool                   // buf holds missing samples
	pend         int                    // unknown windows waiting for the next known one
	raw          [rawLen]bins           // the kernel's results C_·,m at raw[m%rawLen]
	amp          [ringLen]float64       // tone amplitude of each hit window's sub-blocks (see hit)
	lastZ        [2]complex128          // phase advance per 80 samples (as z2) of the last hit window's tones
	runZ         [maxHits][2]complex128 // those of the current run's windows, by run index
	lastLo       int8
	lastHi       int8
	lastWasHit   bool
	cand         Key   // key of the current run of hits
	candRun      int   // its length
	candStart    int64 // refined start of the run's first window, in samples
	candEdge     bool  // the run began right after missing audio
	candBridged  bool  // the run goes on across missing audio
	down         bool  // a key is down
	key          Key
	start, end   int64 // the down key's refined start and (so far) end
	lastHitSB    int64 // last sub-block of the down key's last hit window
	lastHitAmp   float64
	misses       int
	lastHitLo    int8
	lastHitHi    int8
	needEndRefit bool // the sub-block after the last hit window is still due
}

// NewDetector returns a detector for one channel, or the [Config.Validate]
// error (a *ConfigError) when cfg is out of range.
func NewDetector(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	d := &Detector{corr: corrBest}
	// A tone of amplitude A at its exact frequency gives |S| = A·winLen/2
	// over a window, and carries energy A²·winLen/2 = 2|S|²/winLen.
	a := Amplitude(c.MinLevel) * winLen / 2
	d.minPow = a * a
	d.minEnergy = 2 * d.minPow / winLen // one tone at MinLevel
	d.twistLo = math.Pow(10, -c.NormalTwist/10)
	d.twistHi = math.Pow(10, c.ReverseTwist/10)
	d.dominance = math.Pow(10, dominanceDB/10.0)
	d.relEnergy = c.RelEnergy * winLen / 2
	for k, f := range freqs {
		d.cosFine[k] = math.Cos(2 * math.Pi * c.MaxFreqDev * f * 2 * subBlock / SampleRate)
		d.cosCoarse[k] = math.Cos(2 * math.Pi * (c.MaxFreqDev + coarseDevExtra) * f * subBlock / SampleRate)
	}
	d.minHits, d.minMisses = c.MinHits, c.MinMisses
	d.early = c.Early
	d.maxSpread = 2 * math.Pi * c.MaxSpread * 2 * subBlock / SampleRate
	return d, nil
}

// Pos returns the number of samples processed since creation or Reset.
func (d *Detector) Pos() int64 { return d.pos }

// Reset forgets all state and restarts the sample count at 0. The
// configuration is kept.
func (d *Detector) Reset() {
	*d = Detector{corr: d.corr, params: d.params}
}

// Process consumes samples (any length, from one sample up) and appends to
// dst the keys that ended in them; it returns the extended slice. Keys are
// reported once each, when the tone has been gone for the hangover time
// (MinMisses·5 ms), or with Config.Early when the key goes down, with
// Start and End on the sample timeline of this Detector. The result does
// not depend on how the stream is cut into blocks. Process does not keep
// samples or dst.
func (d *Detector) Process(dst []Event, samples []int16) []Event {
	return d.process(dst, samples, false)
}

// zeros stands in for missing samples.
var zeros [batch * subBlock]int16

// Missing tells the detector that the next n samples are lost (a packet
// that never came): they take their place on the timeline (Pos moves on by
// n) but are neither tone nor silence. A key whose tone is heard on both
// sides of a loss of up to 60 ms stays one key; a loss next to a pause, or
// a longer one, counts as a pause (see the package's notes on missing
// audio). Keys that end meanwhile are appended to dst, as by Process.
func (d *Detector) Missing(dst []Event, n int) []Event {
	for n > 0 {
		k := min(n, len(zeros))
		dst = d.process(dst, zeros[:k], true)
		n -= k
	}
	return dst
}

// process is Process, for missing samples (zeros) when gone is set.
func (d *Detector) process(dst []Event, samples []int16, gone bool) []Event {
	d.pos += int64(len(samples))
	if d.nbuf > 0 {
		n := copy(d.buf[d.nbuf:], samples)
		d.nbuf += n
		d.bufGone = d.bufGone || gone && n > 0
		samples = samples[n:]
		if d.nbuf < subBlock {
			return dst
		}
		slot := int(d.nsb & (rawLen - 1))
		d.corr(d.raw[slot:slot+1], d.buf[:], table)
		dst = d.analyse(dst, 1, d.bufGone)
		d.nbuf, d.bufGone = 0, false
	}
	for len(samples) >= subBlock {
		// The kernel writes straight into the ring, never across its end.
		slot := int(d.nsb & (rawLen - 1))
		n := min(len(samples)/subBlock, batch, rawLen-slot)
		d.corr(d.raw[slot:slot+n], samples[:n*subBlock], table)
		dst = d.analyse(dst, n, gone)
		samples = samples[n*subBlock:]
	}
	d.nbuf = copy(d.buf[:], samples)
	d.bufGone = gone && d.nbuf > 0
	return dst
}

// Flush ends the stream: a key still sounding is appended to dst (unless
// Config.Early reported it already, when it went down). The detector then
// starts over on key state (Pos keeps counting); samples short of a whole
// sub-block are not analysed.
func (d *Detector) Flush(dst []Event) []Event {
	if d.down && !d.early {
		if d.needEndRefit {
			d.refitEnd(false)
		}
		dst = append(dst, Event{Key: d.key, Source: SourceInband, Start: d.start, End: d.end})
	}
	d.down, d.cand, d.candRun, d.misses, d.needEndRefit, d.pend = false, 0, 0, 0, false, 0
	return dst
}

// analyse takes the kernel's next n results, raw[nsb%rawLen] onwards (not
// across the ring's end); gone says they are of missing samples.
//
// Most sub-blocks end no window worth a look: unless the last four all
// passed the pre-filter, the window's verdict is "no key", and while no
// key is down or pending that changes nothing. The loop decides that
// from one bit per sub-block and goes on to the next.
func (d *Detector) analyse(dst []Event, n int, gone bool) []Event {
	slot := int(d.nsb & (rawLen - 1))
	tonal := d.tonal
	for i := range d.raw[slot : slot+n] {
		d.gone <<= 1
		if gone {
			d.gone |= 1
		}
		// Pre-filter: the strongest tone of each group must carry a fair
		// share of this sub-block's energy, or no window holding it can
		// pass test 5. The kernel has decided it (tonalOf).
		tonal = tonal<<1 | uint64(d.raw[slot+i].tonal)
		m := d.nsb
		d.nsb++
		full := tonal&(1<<window-1) == 1<<window-1 // implies m ≥ window−1
		if !full && d.cand == 0 && !d.down {
			continue // step(dst, m, 0) would do nothing (and pend is 0)
		}
		if d.gone&(1<<window-1) != 0 {
			dst = d.unknown(dst, m)
			continue
		}
		var k Key
		if full {
			k = d.window(m)
		}
		if d.pend > 0 {
			// The first known window after a loss: a hit of the key that
			// was sounding bridges it; anything else makes the lost
			// windows misses.
			if k == 0 || k != d.cand && !(d.down && k == d.key) {
				for range d.pend {
					dst = d.step(dst, m, 0)
				}
			} else if !d.down {
				d.candBridged = true
			}
			d.pend = 0
		}
		dst = d.step(dst, m, k)
	}
	d.tonal = tonal
	return dst
}

// rotated returns D_·,m: the correlations of sub-block m turned by the
// phase of its start, D_k,m = C_k,m·e^{iω_k·40m}, computed on first use
// (most sub-blocks never get into a window that needs them).
func (d *Detector) rotated(m int64) *[8]complex128 {
	slot := m & (ringLen - 1)
	dm := &d.ring[slot]
	if d.rotM[slot] != m+1 {
		d.rotM[slot] = m + 1
		r := &rot[m%rotPeriod]
		b := &d.raw[m&(rawLen-1)]
		for k := range 8 {
			dm[k] = complex(float64(b.re[k]), float64(b.im[k])) * r[k]
		}
	}
	return dm
}

// window evaluates the window ending with sub-block m and returns the key it
// holds, or 0. On a hit it leaves the tones' group indices and amplitude in
// d.lastLo, d.lastHi, d.amp[m%ringLen].
func (d *Detector) window(m int64) Key {
	e0 := float64(d.raw[(m-3)&(rawLen-1)].energy)
	e1 := float64(d.raw[(m-2)&(rawLen-1)].energy)
	e2 := float64(d.raw[(m-1)&(rawLen-1)].energy)
	e3 := float64(d.raw[m&(rawLen-1)].energy)
	e := e0 + e1 + e2 + e3
	if e < d.minEnergy {
		return 0
	}
	// 6. Steadiness, checked first: it needs only the energies (a
	// window that fails any test holds no key, whatever the order).
	if q := steadiness * e / window; e0 < q || e1 < q || e2 < q || e3 < q {
		return 0
	}
	// 5, bounded from above: the same verdict, without the work below,
	// for the windows whose strongest tones could never carry enough.
	if peakBound*(float64(d.raw[(m-3)&(rawLen-1)].peak)+float64(d.raw[(m-2)&(rawLen-1)].peak)+
		float64(d.raw[(m-1)&(rawLen-1)].peak)+float64(d.raw[m&(rawLen-1)].peak)) < d.relEnergy*e {
		return 0
	}
	r0, r1, r2, r3 := d.rotated(m-3), d.rotated(m-2), d.rotated(m-1), d.rotated(m)
	var p [8]float64
	for k := range 8 {
		s := r0[k] + r1[k] + r2[k] + r3[k]
		p[k] = real(s)*real(s) + imag(s)*imag(s)
	}
	lo := 0
	for k := 1; k < 4; k++ {
		if p[k] > p[lo] {
			lo = k
		}
	}
	hi := 4
	for k := 5; k < 8; k++ {
		if p[k] > p[hi] {
			hi = k
		}
	}
	// 2. Group dominance.
	for k := range 4 {
		if k != lo && p[k]*d.dominance > p[lo] {
			return 0
		}
	}
	for k := 4; k < 8; k++ {
		if k != hi && p[k]*d.dominance > p[hi] {
			return 0
		}
	}
	// 3+4. Offset and corrected power of each tone, after removing from
	// each the other tone's leakage (the 40-sample correlations of 697 Hz
	// still see 1209 Hz at −18 dB, enough to bend its phase by 0.1 rad).
	var tl, th [window]complex128
	for i, j := range [window]int64{m - 3, m - 2, m - 1, m} {
		rr := &rot[j%rotPeriod]
		r := rr[lo] * cmplx.Conj(rr[hi]) // e^{i(ω_lo−ω_hi)·40j}
		dl, dh := d.ring[j&(ringLen-1)][lo], d.ring[j&(ringLen-1)][hi]
		tl[i] = dl - leak[lo][hi]*r*dh
		th[i] = dh - leak[hi][lo]*cmplx.Conj(r)*dl
	}
	pl, zl, ok := d.tone(&tl, lo)
	if !ok {
		return 0
	}
	ph, zh, ok := d.tone(&th, hi)
	if !ok {
		return 0
	}
	if pl < d.minPow || ph < d.minPow || ph < pl*d.twistLo || ph > pl*d.twistHi {
		return 0
	}
	// 5. Relative energy: 2(P_lo+P_hi)/winLen ≥ RelEnergy·E.
	if pl+ph < d.relEnergy*e {
		return 0
	}
	d.lastLo, d.lastHi = int8(lo), int8(hi)
	d.lastZ = [2]complex128{zl, zh}
	d.amp[m&(ringLen-1)] = (math.Sqrt(pl) + math.Sqrt(ph)) / window
	return keyGrid[lo][hi-4]
}

// tone measures frequency k over the window's sub-block correlations t: it checks the offset and
// returns the offset-corrected power |Σ D_m·e^{iδ40m}|².
func (d *Detector) tone(t *[window]complex128, k int) (float64, complex128, bool) {
	a, b0, b1, b3 := t[0], t[1], t[2], t[3]
	// Fine: halves of 80 samples.
	ha, hb := a+b0, b1+b3
	z2 := hb * cmplx.Conj(ha)
	n2 := abs(z2)
	if n2 == 0 || real(z2) < d.cosFine[k]*n2 {
		return 0, 0, false
	}
	// Coarse: consecutive sub-blocks.
	z1 := b0*cmplx.Conj(a) + b1*cmplx.Conj(b0) + b3*cmplx.Conj(b1)
	if real(z1) < d.cosCoarse[k]*abs(z1) {
		return 0, 0, false
	}
	// u2 = e^{iδ80}; u = e^{iδ40} is its half angle (|δ80| < π).
	u := 1 + scale(cmplx.Conj(z2), 1/n2)
	u = scale(u, 1/abs(u))
	s := ((b3*u+b1)*u+b0)*u + a
	return real(s)*real(s) + imag(s)*imag(s), z2, true
}

// step runs the key state machine on the verdict k of the window ending
// with sub-block m.
func (d *Detector) step(dst []Event, m int64, k Key) []Event {
	if k != 0 && k == d.cand {
		d.candRun++
	} else {
		d.cand, d.candRun, d.candBridged = k, 0, false
		if k != 0 {
			d.candRun = 1
			d.candStart = d.refitStart(m)
			// Missing audio in the 10 ms before the window: the tone
			// may have begun in it.
			d.candEdge = d.gone>>window&3 != 0
		}
	}
	if k != 0 {
		d.runZ[d.candRun%maxHits] = d.lastZ
	}
	if d.down {
		if k == d.key {
			d.hit(m)
		} else {
			if d.needEndRefit { // m is the sub-block after the last hit window
				d.refitEnd(true)
			}
			d.misses++
			if d.misses >= d.minMisses {
				if !d.early {
					dst = append(dst, Event{Key: d.key, Source: SourceInband, Start: d.start, End: d.end})
				}
				d.down, d.needEndRefit = false, false
			}
		}
	}
	if !d.down && d.cand != 0 && d.accept(m, d.candEdge) {
		dst = d.goDown(dst, m)
	}
	return dst
}

// accept reports whether the current run, its last hit window ending with
// sub-block m, makes its key go down: MinHits hit windows; or, when
// missing audio cut the run (the tone may have sounded in it too; see the
// package's notes on missing audio), 2 for a run heard on both sides of a
// loss, and MinHits−1 for one that begins right after a loss or ends at
// one (edge) if its tone was heard for edgeSpan. The tone must also have
// been steady.
func (d *Detector) accept(m int64, edge bool) bool {
	switch {
	case d.candRun >= d.minHits:
	case d.candBridged && d.candRun >= min(d.minHits, 2):
	case edge && d.candRun >= d.minHits-1 && d.runSpan(m) >= edgeSpan:
	default:
		return false
	}
	return d.steady()
}

// runSpan returns how long the current run's tone was heard, in samples:
// from its refined start to the end of the tone in the hit window ending
// with sub-block m (the run's last so far).
func (d *Detector) runSpan(m int64) int64 {
	e := float64((m+1)*subBlock) - (1-d.share(m, d.lastLo, d.lastHi, d.amp[m&(ringLen-1)]))*subBlock
	return int64(math.Round(e)) - d.candStart
}

// goDown makes the current run's key go down, its last hit window ending
// with sub-block m.
func (d *Detector) goDown(dst []Event, m int64) []Event {
	d.down, d.key, d.start, d.misses = true, d.cand, d.candStart, 0
	d.hit(m)
	if d.early { // accepted: nothing later can take the key back
		dst = append(dst, Event{Key: d.key, Source: SourceInband, Start: d.start, End: d.end})
	}
	return dst
}

// unknown handles the window ending with sub-block m when it holds missing
// samples, while a key is down or a run of hits builds: it waits (pend)
// while the tone was heard up to the loss, for at most maxBridge windows;
// otherwise it, and those waiting, are misses.
func (d *Detector) unknown(dst []Event, m int64) []Event {
	if !d.down && d.pend == 0 && d.cand != 0 && d.accept(m-1, true) {
		// A run of hits that a loss cuts short: the tone may go on in
		// it. The window before this one was the run's last hit.
		dst = d.goDown(dst, m-1)
	}
	if d.down && d.needEndRefit { // m is the sub-block after the last hit window
		d.refitEnd(true)
	}
	if d.pend < maxBridge && (d.down && d.misses == 0 || !d.down && d.cand != 0) {
		d.pend++
		return dst
	}
	for range d.pend + 1 {
		dst = d.step(dst, m, 0)
	}
	d.pend = 0
	return dst
}

// steady reports whether the frequencies of both tones stayed within
// MaxSpread over the last MinHits windows of the current run (all of it
// when shorter).
func (d *Detector) steady() bool {
	for t := range 2 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for i := max(d.candRun-d.minHits+1, 1); i <= d.candRun; i++ {
			a := cmplx.Phase(d.runZ[i%maxHits][t])
			lo, hi = min(lo, a), max(hi, a)
		}
		if hi-lo > d.maxSpread {
			return false
		}
	}
	return true
}

// hit records that the down key's tone fills the window ending with
// sub-block m.
func (d *Detector) hit(m int64) {
	d.misses = 0
	d.lastHitSB = m
	d.lastHitAmp = d.amp[m&(ringLen-1)]
	d.lastHitLo, d.lastHitHi = d.lastLo, d.lastHi
	d.end = (m + 1) * subBlock
	d.needEndRefit = true
}

// share returns how much of a full sub-block's tone amplitude ref sub-block
// m carries for tones lo and hi, within [0, 1], after removing each tone's
// leakage into the other's correlation.
func (d *Detector) share(m int64, lo, hi int8, ref float64) float64 {
	if ref <= 0 {
		return 0
	}
	dm := d.rotated(m)
	rr := &rot[m%rotPeriod]
	r := rr[lo] * cmplx.Conj(rr[hi])
	dl, dh := dm[lo], dm[hi]
	a := abs(dl-leak[lo][hi]*r*dh) + abs(dh-leak[hi][lo]*cmplx.Conj(r)*dl)
	return min(1, a/ref)
}

// refitStart returns the start, in samples, of the tone whose first hit
// window ends with sub-block m: the window's start, moved later by the part
// of its first sub-block the tone does not fill, or earlier by the part of
// the sub-block before it that the tone does fill.
func (d *Detector) refitStart(m int64) int64 {
	first := m - window + 1
	ref := d.amp[m&(ringLen-1)]
	s := float64(first * subBlock)
	f0 := d.share(first, d.lastLo, d.lastHi, ref)
	s += (1 - f0) * subBlock
	if first > 0 {
		s -= d.share(first-1, d.lastLo, d.lastHi, ref) * subBlock
	}
	return int64(math.Round(s))
}

// refitEnd refines d.end from the tone's share of the last hit window's
// last sub-block and, when next is true, of the sub-block after it (which
// has just arrived).
func (d *Detector) refitEnd(next bool) {
	d.needEndRefit = false
	m := d.lastHitSB
	e := float64((m + 1) * subBlock)
	f := d.share(m, d.lastHitLo, d.lastHitHi, d.lastHitAmp)
	e -= (1 - f) * subBlock
	if next {
		e += d.share(m+1, d.lastHitLo, d.lastHitHi, d.lastHitAmp) * subBlock
	}
	d.end = int64(math.Round(e))
}

// abs is |z| without cmplx.Abs's care for overflow, which our magnitudes
// (below 2^40) do not need.
func abs(z complex128) float64 { return math.Sqrt(real(z)*real(z) + imag(z)*imag(z)) }

// scale returns z·f for real f.
func scale(z complex128, f float64) complex128 { return complex(real(z)*f, imag(z)*f) }
