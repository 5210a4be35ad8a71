package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/zaf/g711"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestULawCodesRoundTrip(t *testing.T) {
	for c := range 256 {
		var pcm [1]int16
		var back [1]byte
		if _, err := DecodeULawTo(pcm[:], []byte{byte(c)}); err != nil {
			t.Fatal(err)
		}
		if _, err := EncodeULawTo(back[:], pcm[:]); err != nil {
			t.Fatal(err)
		}
		want := byte(c)
		if c == 0x7F { // −0 decodes to 0, which encodes as +0
			want = 0xFF
		}
		if back[0] != want {
			t.Errorf("μ-law %#02x → %d → %#02x, want %#02x", c, pcm[0], back[0], want)
		}
	}
}

func TestALawCodesRoundTrip(t *testing.T) {
	for c := range 256 {
		var pcm [1]int16
		var back [1]byte
		DecodeALawTo(pcm[:], []byte{byte(c)})
		EncodeALawTo(back[:], pcm[:])
		if back[0] != byte(c) {
			t.Errorf("A-law %#02x → %d → %#02x", c, pcm[0], back[0])
		}
	}
}

// Every 16-bit sample survives encode+decode within G.711's quantisation
// step (1/16 of the magnitude in the upper segments, a few LSBs near zero),
// and both laws keep the sign and order of samples.
func TestG711QuantisationError(t *testing.T) {
	all := make([]int16, 65536)
	for i := range all {
		all[i] = int16(i - 32768)
	}
	code := make([]byte, len(all))
	back := make([]int16, len(all))
	for _, law := range []struct {
		name string
		enc  func([]byte, []int16) (int, error)
		dec  func([]int16, []byte) (int, error)
	}{{"ulaw", EncodeULawTo, DecodeULawTo}, {"alaw", EncodeALawTo, DecodeALawTo}} {
		law.enc(code, all)
		law.dec(back, code)
		for i, s := range all {
			e := math.Abs(float64(back[i]) - float64(s))
			if e > math.Abs(float64(s))/16+36 {
				t.Fatalf("%s: %d → %d (error %.0f)", law.name, s, back[i], e)
			}
			if i > 0 && back[i] < back[i-1] {
				t.Fatalf("%s: not monotonic at %d: %d < %d", law.name, s, back[i], back[i-1])
			}
		}
	}
}

// The wrappers agree with zaf/g711's own bulk functions.
func TestG711MatchesZaf(t *testing.T) {
	src := goldenInput()
	le := make([]byte, 2*len(src))
	for i, s := range src {
		binary.LittleEndian.PutUint16(le[2*i:], uint16(s))
	}
	u := make([]byte, len(src))
	a := make([]byte, len(src))
	EncodeULawTo(u, src)
	EncodeALawTo(a, src)
	if !bytes.Equal(u, g711.EncodeUlaw(le)) {
		t.Error("μ-law encoding differs from g711.EncodeUlaw")
	}
	if !bytes.Equal(a, g711.EncodeAlaw(le)) {
		t.Error("A-law encoding differs from g711.EncodeAlaw")
	}
	pu := make([]int16, len(u))
	DecodeULawTo(pu, u)
	if !bytes.Equal(s16le(pu), g711.DecodeUlaw(u)) {
		t.Error("μ-law decoding differs from g711.DecodeUlaw")
	}
	pa := make([]int16, len(a))
	DecodeALawTo(pa, a)
	if !bytes.Equal(s16le(pa), g711.DecodeAlaw(a)) {
		t.Error("A-law decoding differs from g711.DecodeAlaw")
	}
}

func TestG711ShortBuffer(t *testing.T) {
	pcm := make([]int16, 4)
	code := make([]byte, 4)
	cases := []struct {
		name string
		f    func() (int, error)
	}{
		{"DecodeULawTo", func() (int, error) { return DecodeULawTo(pcm[:3], code) }},
		{"DecodeALawTo", func() (int, error) { return DecodeALawTo(pcm[:3], code) }},
		{"EncodeULawTo", func() (int, error) { return EncodeULawTo(code[:3], pcm) }},
		{"EncodeALawTo", func() (int, error) { return EncodeALawTo(code[:3], pcm) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := c.f()
			if n != 0 || !errors.Is(err, io.ErrShortBuffer) {
				t.Errorf("got (%d, %v), want (0, io.ErrShortBuffer)", n, err)
			}
		})
	}
	// A larger dst is fine and only len(src) entries are written.
	big := []int16{9, 9, 9, 9, 9}
	if n, err := DecodeULawTo(big, []byte{0xFF, 0xFF}); n != 2 || err != nil || big[2] != 9 {
		t.Errorf("DecodeULawTo into a larger dst: n=%d err=%v dst=%v", n, err, big)
	}
}

func TestG711ZeroAllocs(t *testing.T) {
	src := goldenInput()[:160]
	code := make([]byte, 160)
	pcm := make([]int16, 160)
	allocs := testing.AllocsPerRun(100, func() {
		EncodeULawTo(code, src)
		DecodeULawTo(pcm, code)
		EncodeALawTo(code, src)
		DecodeALawTo(pcm, code)
	})
	if allocs != 0 {
		t.Errorf("G.711 conversion allocates %v times a run, want 0", allocs)
	}
}

// goldenInput is testdata/x.s16le: 0.1 s of the DTMF "1" pair (697 Hz +
// 1209 Hz, amplitude 7000 each, about −10 dBm0 per tone) followed by a
// ramp over the whole int16 range in steps of 256.
func goldenInput() []int16 {
	var x []int16
	for i := range 800 {
		t := float64(i) / SampleRate
		v := 7000*math.Sin(2*math.Pi*697*t) + 7000*math.Sin(2*math.Pi*1209*t)
		x = append(x, int16(math.Round(v)))
	}
	for v := -32768; v < 32768; v += 256 {
		x = append(x, int16(v))
	}
	x = append(x, 32767)
	return x
}

func s16le(x []int16) []byte {
	b := make([]byte, 2*len(x))
	for i, s := range x {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

func fromS16le(t *testing.T, b []byte) []int16 {
	t.Helper()
	if len(b)%2 != 0 {
		t.Fatalf("odd s16le length %d", len(b))
	}
	x := make([]int16, len(b)/2)
	for i := range x {
		x[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return x
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./audio -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: output differs from the golden file (%d bytes, want %d)", name, len(got), len(want))
	}
}

func TestG711Golden(t *testing.T) {
	x := goldenInput()
	golden(t, "x.s16le", s16le(x))
	in, err := os.ReadFile(filepath.Join("testdata", "x.s16le"))
	if err != nil {
		t.Fatal(err)
	}
	x = fromS16le(t, in)
	for _, law := range []struct {
		name string
		enc  func([]byte, []int16) (int, error)
		dec  func([]int16, []byte) (int, error)
	}{{"ulaw", EncodeULawTo, DecodeULawTo}, {"alaw", EncodeALawTo, DecodeALawTo}} {
		code := make([]byte, len(x))
		law.enc(code, x)
		golden(t, "x."+law.name, code)
		code, err := os.ReadFile(filepath.Join("testdata", "x."+law.name))
		if err != nil {
			t.Fatal(err)
		}
		pcm := make([]int16, len(code))
		law.dec(pcm, code)
		golden(t, "x."+law.name+".s16le", s16le(pcm))
	}
}

func BenchmarkEncodeULaw(b *testing.B) {
	src := goldenInput()[:160]
	dst := make([]byte, 160)
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(src)))
	for b.Loop() {
		EncodeULawTo(dst, src)
	}
}

// BenchmarkEncodeULawPerSample is the alternative the table was measured
// against: zaf/g711's EncodeUlawFrame for every sample.
func BenchmarkEncodeULawPerSample(b *testing.B) {
	src := goldenInput()[:160]
	dst := make([]byte, 160)
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(src)))
	for b.Loop() {
		for i, s := range src {
			dst[i] = g711.EncodeUlawFrame(s)
		}
	}
}

// The tables give exactly zaf/g711's codes for every sample.
func TestEncodeTablesMatchZaf(t *testing.T) {
	for i := range 65536 {
		s := int16(uint16(i))
		if got, want := ulawEncTable()[uint16(s)], g711.EncodeUlawFrame(s); got != want {
			t.Fatalf("μ-law %d: table %#02x, zaf %#02x", s, got, want)
		}
		if got, want := alawEncTable()[uint16(s)], g711.EncodeAlawFrame(s); got != want {
			t.Fatalf("A-law %d: table %#02x, zaf %#02x", s, got, want)
		}
	}
}

func BenchmarkDecodeULaw(b *testing.B) {
	src := make([]byte, 160)
	EncodeULawTo(src, goldenInput()[:160])
	dst := make([]int16, 160)
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		DecodeULawTo(dst, src)
	}
}

func BenchmarkEncodeALaw(b *testing.B) {
	src := goldenInput()[:160]
	dst := make([]byte, 160)
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(src)))
	for b.Loop() {
		EncodeALawTo(dst, src)
	}
}

func BenchmarkDecodeALaw(b *testing.B) {
	src := make([]byte, 160)
	EncodeALawTo(src, goldenInput()[:160])
	dst := make([]int16, 160)
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		DecodeALawTo(dst, src)
	}
}
