package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// Loudness of the shipped prompts (see prompts/generate.sh): RMS over the
// whole file at -20 dBFS, peaks at or below -1 dBFS. The window allows for
// the peak ceiling lowering the gain of a prompt with a high crest factor.
const (
	targetRMSdB  = -20.0
	rmsWindowdB  = 1.0  // accept [-21, -19] dBFS
	peakCeilingB = -0.9 // -1 dBFS in generate.sh, plus rounding
)

// shippedNames lists every shipped prompt, sorted: each in Japanese and
// in English.
var shippedNames = func() []string {
	base := []string{PromptGreeting, PromptWrongKey, PromptSuccess, PromptFraud, PromptGoodbye,
		PromptChallenge, PromptChallengeRepeat, PromptChallengeEnd, PromptChallengeWrong}
	for d := range 10 {
		base = append(base, PromptDigit(d))
	}
	var names []string
	for _, lang := range []string{LangJapanese, LangEnglish} {
		for _, n := range base {
			names = append(names, LangName(lang, n))
		}
	}
	slices.Sort(names)
	return names
}()

// isDigitPrompt reports whether name reads out one digit, in either
// language: those are well under a second.
func isDigitPrompt(name string) bool {
	return strings.HasPrefix(strings.TrimPrefix(name, "en-"), "digit-")
}

func loadShipped(t testing.TB) *Catalog {
	t.Helper()
	c, err := LoadCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dBFS of a linear level, full scale 32768 (as sox reports it).
func dBFS(x float64) float64 { return 20 * math.Log10(x/32768) }

func TestCatalogNames(t *testing.T) {
	c := loadShipped(t)
	if got := c.Names(); !slices.Equal(got, shippedNames) {
		t.Errorf("Names() = %q, want %q", got, shippedNames)
	}
	c.Names()[0] = "changed"
	if c.Names()[0] != shippedNames[0] {
		t.Error("Names() returned the catalog's own slice")
	}
	if _, err := c.Get("nope"); !errors.Is(err, ErrUnknownPrompt) {
		t.Errorf("Get(nope) error = %v, want ErrUnknownPrompt", err)
	}
	if len(c.Ignored()) != 0 {
		t.Errorf("Ignored() = %q without override", c.Ignored())
	}
}

func TestShippedPrompts(t *testing.T) {
	c := loadShipped(t)
	var total int
	for _, name := range shippedNames {
		t.Run(name, func(t *testing.T) {
			p, err := c.Get(name)
			if err != nil {
				t.Fatal(err)
			}
			total += p.Len()
			if p.Name() != name || p.Format() != FormatPCM16 || p.Overridden() {
				t.Errorf("Name %q Format %v Overridden %v", p.Name(), p.Format(), p.Overridden())
			}
			w, err := ReadWAVFile(shipped, "prompts/"+name+".wav")
			if err != nil {
				t.Fatal(err)
			}
			if w.Rate != SampleRate || w.Format != FormatPCM16 {
				t.Errorf("file is %d Hz %v, want 8000 Hz pcm16", w.Rate, w.Format)
			}
			if !slices.Equal(p.Samples(), w.Samples) {
				t.Error("Samples() differ from the file's samples")
			}
			lo, hi := time.Second, 20*time.Second
			if isDigitPrompt(name) {
				// 200 ms of silence each end around one word: a code's
				// digits follow each other about a second apart.
				lo, hi = 500*time.Millisecond, 1200*time.Millisecond
			}
			if d := p.Duration(); d <= lo || d >= hi {
				t.Errorf("Duration() = %v, want within (%v, %v)", d, lo, hi)
			}
			if want := time.Duration(p.Len()) * time.Second / 8000; p.Duration() != want {
				t.Errorf("Duration() = %v, want %v", p.Duration(), want)
			}

			var sum float64
			peak := 0
			for _, s := range p.Samples() {
				sum += float64(s) * float64(s)
				peak = max(peak, abs(int(s)))
			}
			rms := dBFS(math.Sqrt(sum / float64(p.Len())))
			pk := dBFS(float64(peak))
			t.Logf("%s: %v, %d frames, RMS %.2f dBFS, peak %.2f dBFS", name, p.Duration(), p.NumFrames(), rms, pk)
			// The generator lowers the gain of a prompt whose peak would
			// pass the ceiling: its RMS may then be below the window,
			// with the peak at the ceiling.
			peakLimited := pk > peakCeilingB-0.2 && rms < targetRMSdB
			if math.Abs(rms-targetRMSdB) > rmsWindowdB && !peakLimited {
				t.Errorf("RMS %.2f dBFS, want %.0f±%.0f dBFS", rms, targetRMSdB, rmsWindowdB)
			}
			if pk > peakCeilingB {
				t.Errorf("peak %.2f dBFS, want at most %.1f dBFS", pk, peakCeilingB)
			}
			// The generator pads 200 ms of digital silence at both ends.
			for _, s := range [][]int16{p.Samples()[:1500], p.Samples()[p.Len()-1500:]} {
				if slices.ContainsFunc(s, func(v int16) bool { return v != 0 }) {
					t.Error("no leading/trailing silence")
				}
			}
			checkFrames(t, p)
		})
	}
	t.Logf("total %d samples, %.1f s", total, float64(total)/SampleRate)
	// Two languages of 19 prompts each: about 2 MB.
	if total*2 > 5<<19 {
		t.Errorf("shipped prompts hold %d bytes of samples, want under 2.5 MiB", total*2)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// checkFrames verifies the frames of p against the G.711 encoders applied
// to its samples padded with silence, and that they decode back to the
// samples within G.711 quantisation.
func checkFrames(t *testing.T, p *Prompt) {
	t.Helper()
	n := p.Len()
	want := (n + 159) / 160
	if p.NumFrames() != want {
		t.Fatalf("NumFrames() = %d, want ceil(%d/160) = %d", p.NumFrames(), n, want)
	}
	padded := make([]int16, want*160)
	copy(padded, p.Samples())
	for _, c := range []Codec{PCMU, PCMA} {
		enc := make([]byte, len(padded))
		if c == PCMU {
			EncodeULawTo(enc, padded)
		} else {
			EncodeALawTo(enc, padded)
		}
		if !bytes.Equal(p.Encoded(c), enc) {
			t.Errorf("%v: Encoded differs from encoding the padded samples", c)
		}
		dec := make([]int16, FrameSamples)
		for i := range p.NumFrames() {
			f := p.Frame(i, c)
			if len(f) != FrameSamples || cap(f) != FrameSamples {
				t.Fatalf("%v: frame %d has len %d cap %d, want 160", c, i, len(f), cap(f))
			}
			if !bytes.Equal(f, enc[i*160:(i+1)*160]) {
				t.Fatalf("%v: frame %d differs", c, i)
			}
			if c == PCMU {
				DecodeULawTo(dec, f)
			} else {
				DecodeALawTo(dec, f)
			}
			for j, got := range dec {
				x := int(padded[i*160+j])
				// Both laws keep at least 4 mantissa bits: the error is
				// below 1/16 of the magnitude plus the smallest step.
				if d := abs(int(got) - x); d > abs(x)/16+16 {
					t.Fatalf("%v: frame %d sample %d decodes to %d, was %d", c, i, j, got, x)
				}
			}
		}
		if p.Frame(p.NumFrames(), c) != nil || p.Frame(-1, c) != nil {
			t.Errorf("%v: Frame out of range is not nil", c)
		}
	}
	if p.Frame(0, CodecUnknown) != nil || p.Encoded(CodecUnknown) != nil {
		t.Error("CodecUnknown gives frames")
	}
}

func TestCodecString(t *testing.T) {
	for c, want := range map[Codec]string{CodecUnknown: "unknown", PCMU: "PCMU", PCMA: "PCMA", 9: "unknown"} {
		if got := c.String(); got != want {
			t.Errorf("Codec(%d).String() = %q, want %q", c, got, want)
		}
	}
}

func TestFramePaddingAndAppend(t *testing.T) {
	samples := make([]int16, 161)
	for i := range samples {
		samples[i] = 1000
	}
	p := newPrompt("x", FormatPCM16, false, samples)
	if p.NumFrames() != 2 || p.Len() != 161 || len(p.Samples()) != 161 {
		t.Fatalf("NumFrames %d Len %d", p.NumFrames(), p.Len())
	}
	last := p.Frame(1, PCMU)
	var silence [1]byte
	EncodeULawTo(silence[:], []int16{0})
	for i, b := range last[1:] {
		if b != silence[0] {
			t.Fatalf("padding byte %d = %#x, want μ-law silence %#x", i+1, b, silence[0])
		}
	}
	// Appending to a frame must not write into the next one.
	first := p.Frame(0, PCMU)
	_ = append(first, 0x00)
	if p.Frame(1, PCMU)[0] == 0x00 {
		t.Error("append to frame 0 overwrote frame 1")
	}
}

// wavBytes writes samples as a WAV file in format f, then lets patch edit
// the 44-byte canonical header (PCM16 only).
func wavBytes(t testing.TB, f Format, samples []int16, patch func(hdr []byte)) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteWAV(&b, f, samples); err != nil {
		t.Fatal(err)
	}
	if patch != nil {
		patch(b.Bytes())
	}
	return b.Bytes()
}

func tone(n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/SampleRate))
	}
	return s
}

func TestLoadCatalogOverride(t *testing.T) {
	mine := tone(2*SampleRate + 7)
	fsys := fstest.MapFS{
		"greeting.wav":  {Data: wavBytes(t, FormatULaw, mine, nil)},
		"success.wav":   {Data: wavBytes(t, FormatPCM16, mine, nil)},
		"README.txt":    {Data: []byte("my recordings")},
		"Goodbye.wav":   {Data: []byte("not read")},
		"extra.wav":     {Data: []byte("not read")},
		"old/fraud.wav": {Data: []byte("not read")},
	}
	c, err := LoadCatalog(fsys)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := c.Get(PromptGreeting)
	if !g.Overridden() || g.Format() != FormatULaw || g.Len() != len(mine) {
		t.Errorf("greeting: Overridden %v Format %v Len %d; want the override", g.Overridden(), g.Format(), g.Len())
	}
	checkFrames(t, g)
	s, _ := c.Get(PromptSuccess)
	if !s.Overridden() || !slices.Equal(s.Samples(), mine) {
		t.Error("success: not the override's samples")
	}
	// A prompt missing from the override keeps the shipped one.
	w, _ := c.Get(PromptWrongKey)
	if w.Overridden() || w.Len() < SampleRate {
		t.Errorf("wrong-key: Overridden %v Len %d; want the shipped prompt", w.Overridden(), w.Len())
	}
	if got, want := c.Ignored(), []string{"Goodbye.wav", "README.txt", "extra.wav", "old"}; !slices.Equal(got, want) {
		t.Errorf("Ignored() = %q, want %q", got, want)
	}
	if !slices.Equal(c.Names(), shippedNames) {
		t.Errorf("Names() = %q", c.Names())
	}
}

func TestLoadCatalogOverrideRejected(t *testing.T) {
	short := tone(SampleRate)
	le := binary.LittleEndian
	tests := []struct {
		name string
		data []byte
		is   error
		msg  []string // substrings of the message
	}{
		{
			name: "16kHz",
			data: wavBytes(t, FormatPCM16, short, func(h []byte) { le.PutUint32(h[24:], 16000); le.PutUint32(h[28:], 32000) }),
			is:   ErrUnsupported,
			msg:  []string{"greeting.wav", "16000 Hz (want 8000 Hz)", "sox in.wav -r 8000 -c 1 -b 16 greeting.wav"},
		},
		{
			name: "stereo",
			data: wavBytes(t, FormatPCM16, short, func(h []byte) { le.PutUint16(h[22:], 2); le.PutUint16(h[32:], 4) }),
			is:   ErrUnsupported,
			msg:  []string{"greeting.wav", "2 channels (want mono)", "sox in.wav -r 8000 -c 1 -b 16 greeting.wav"},
		},
		{
			name: "8bit",
			data: wavBytes(t, FormatPCM16, short, func(h []byte) { le.PutUint16(h[34:], 8) }),
			is:   ErrUnsupported,
			msg:  []string{"8-bit PCM", "sox in.wav -r 8000 -c 1 -b 16"},
		},
		{
			name: "25s",
			data: wavBytes(t, FormatPCM16, tone(25*SampleRate), nil),
			is:   ErrPromptTooLong,
			msg:  []string{"greeting.wav", "25.0 s", "at most 20 s", "trim 0 20"},
		},
		{
			name: "garbage",
			data: []byte("\x00\x01garbage bytes, not audio at all"),
			is:   ErrNotWAV,
			msg:  []string{"greeting.wav", "not a RIFF WAVE file", "sox in.wav -r 8000 -c 1 -b 16 greeting.wav"},
		},
		{
			name: "mp3",
			data: append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{0xFF, 0xFB, 0x90, 0x64}, 100)...),
			is:   ErrNotWAV,
			msg:  []string{"greeting.wav", "looks like MP3", "sox in.wav -r 8000 -c 1 -b 16 greeting.wav"},
		},
		{
			name: "empty file",
			data: nil,
			is:   ErrNotWAV,
			msg:  []string{"greeting.wav"},
		},
		{
			name: "no samples",
			data: wavBytes(t, FormatPCM16, nil, nil),
			is:   ErrPromptEmpty,
			msg:  []string{"greeting.wav", "no samples"},
		},
		{
			name: "truncated",
			data: wavBytes(t, FormatPCM16, short, nil)[:1000],
			is:   ErrTruncated,
			msg:  []string{"greeting.wav", "truncated"},
		},
		{
			name: "header claims 25s",
			data: wavBytes(t, FormatPCM16, short, func(h []byte) { le.PutUint32(h[40:], 25*SampleRate*2) }),
			is:   ErrPromptTooLong,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadCatalog(fstest.MapFS{"greeting.wav": {Data: tt.data}})
			if c != nil || err == nil {
				t.Fatalf("LoadCatalog = %v, %v; want an error", c, err)
			}
			t.Log(err)
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			var pe *PromptError
			if !errors.As(err, &pe) || pe.File != "greeting.wav" {
				t.Errorf("error %v is not a *PromptError for greeting.wav", err)
			}
			if !strings.HasPrefix(err.Error(), "audio: prompt file greeting.wav: ") || strings.Contains(err.Error(), ": audio: ") {
				t.Errorf("message %q, want one \"audio: prompt file greeting.wav: \" prefix", err)
			}
			for _, s := range tt.msg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestLoadCatalogOverrideSeveralBad(t *testing.T) {
	_, err := LoadCatalog(fstest.MapFS{
		"fraud.wav":   {Data: []byte("junk")},
		"goodbye.wav": {Data: wavBytes(t, FormatPCM16, tone(SampleRate), func(h []byte) { binary.LittleEndian.PutUint16(h[22:], 2) })},
		"success.wav": {Data: wavBytes(t, FormatPCM16, tone(SampleRate), nil)},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, f := range []string{"fraud.wav", "goodbye.wav"} {
		if !strings.Contains(err.Error(), "prompt file "+f+":") {
			t.Errorf("error %q does not name %s", err, f)
		}
	}
	if strings.Contains(err.Error(), "success.wav") {
		t.Errorf("error %q names the good file", err)
	}
}

// errFS fails to list its root.
type errFS struct{}

func (errFS) Open(string) (fs.File, error) { return nil, fs.ErrPermission }

func TestLoadCatalogOverrideUnreadable(t *testing.T) {
	if _, err := LoadCatalog(errFS{}); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("error %v, want fs.ErrPermission", err)
	}
}

func TestFramesZeroAllocs(t *testing.T) {
	p, err := loadShipped(t).Get(PromptGreeting)
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	allocs := testing.AllocsPerRun(10, func() {
		for _, c := range []Codec{PCMU, PCMA} {
			for i := range p.NumFrames() {
				sum += int(p.Frame(i, c)[0])
			}
		}
	})
	if allocs != 0 {
		t.Errorf("iterating frames: %v allocs, want 0", allocs)
	}
	_ = sum
}

// TestPromptConcurrentReaders has many goroutines play one prompt at once,
// as concurrent calls do; run it with -race.
func TestPromptConcurrentReaders(t *testing.T) {
	c := loadShipped(t)
	var wg sync.WaitGroup
	sums := make([]int, 16)
	for g := range sums {
		wg.Go(func() {
			p, err := c.Get(PromptSuccess)
			if err != nil {
				t.Error(err)
				return
			}
			codec := PCMU + Codec(g%2)
			for i := range p.NumFrames() {
				for _, b := range p.Frame(i, codec) {
					sums[g] += int(b)
				}
			}
		})
	}
	wg.Wait()
	for g := 2; g < len(sums); g++ {
		if sums[g] != sums[g%2] {
			t.Fatalf("goroutine %d read %d, want %d", g, sums[g], sums[g%2])
		}
	}
}

// TestGenerateReproducible reruns prompts/generate.sh into a temporary
// folder and compares its output with the embedded prompts byte for byte.
// It needs espeak-ng and sox (skipped without them) and the versions
// named in README.md.
func TestGenerateReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("runs espeak-ng and sox")
	}
	for _, tool := range []string{"bash", "espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	out, err := exec.Command("bash", "prompts/generate.sh", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, out)
	}
	t.Logf("generate.sh:\n%s", out)
	for _, name := range shippedNames {
		got, err := os.ReadFile(filepath.Join(dir, name+".wav"))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := shipped.ReadFile("prompts/" + name + ".wav")
		if !bytes.Equal(got, want) {
			t.Errorf("%s.wav: generate.sh made %d bytes that differ from the %d embedded (espeak-ng or sox version?)", name, len(got), len(want))
		}
	}
}

func BenchmarkLoadCatalog(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadCatalog(nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadCatalogOverride(b *testing.B) {
	fsys := fstest.MapFS{"greeting.wav": {Data: wavBytes(b, FormatULaw, tone(15*SampleRate), nil)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadCatalog(fsys); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFrame(b *testing.B) {
	p, err := loadShipped(b).Get(PromptGreeting)
	if err != nil {
		b.Fatal(err)
	}
	n := p.NumFrames()
	var sum byte
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sum += p.Frame(i, PCMU)[0]
		if i++; i == n {
			i = 0
		}
	}
	_ = sum
}

// FuzzLoadCatalogOverride feeds arbitrary bytes as an operator's prompt:
// LoadCatalog either takes them (and then the frames match the samples and
// the length limit holds) or returns a *PromptError naming the file.
func FuzzLoadCatalogOverride(f *testing.F) {
	f.Add(wavBytes(f, FormatPCM16, tone(400), nil))
	f.Add(wavBytes(f, FormatULaw, tone(161), nil))
	f.Add(wavBytes(f, FormatALaw, tone(1), nil))
	f.Add(wavBytes(f, FormatPCM16, tone(100), func(h []byte) { binary.LittleEndian.PutUint32(h[24:], 16000) }))
	f.Add([]byte("ID3\x04garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := LoadCatalog(fstest.MapFS{"goodbye.wav": {Data: data}})
		if err != nil {
			var pe *PromptError
			if !errors.As(err, &pe) || pe.File != "goodbye.wav" || !strings.Contains(err.Error(), "goodbye.wav") {
				t.Fatalf("error %v is not a *PromptError for goodbye.wav", err)
			}
			return
		}
		p, err := c.Get(PromptGoodbye)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Overridden() || p.Len() == 0 || p.Len() > MaxPromptSamples {
			t.Fatalf("Overridden %v Len %d", p.Overridden(), p.Len())
		}
		checkFrames(t, p)
	})
}

// Frames is Frame for every i, the same shared slices, built once.
func TestPromptFrames(t *testing.T) {
	p, err := loadShipped(t).Get(PromptGreeting)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Codec{PCMU, PCMA} {
		fs := p.Frames(c)
		if len(fs) != p.NumFrames() {
			t.Fatalf("%v: %d frames, want %d", c, len(fs), p.NumFrames())
		}
		for i, f := range fs {
			g := p.Frame(i, c)
			if len(f) != FrameSamples || cap(f) != FrameSamples || &f[0] != &g[0] {
				t.Fatalf("%v frame %d: len %d cap %d, not Frame(%d)'s bytes", c, i, len(f), cap(f), i)
			}
		}
		if n := testing.AllocsPerRun(10, func() { _ = p.Frames(c) }); n != 0 {
			t.Errorf("%v: Frames allocates %v", c, n)
		}
		if &p.Frames(c)[0] != &fs[0] {
			t.Errorf("%v: Frames builds a new list each call", c)
		}
	}
	if p.Frames(Codec(99)) != nil {
		t.Error("Frames of an unknown codec is not nil")
	}
}

func TestCatalogLanguage(t *testing.T) {
	c := loadShipped(t)
	en, err := c.Language(LangEnglish)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range en.Names() {
		p, err := en.Get(n)
		if err != nil || p.Name() != "en-"+n {
			t.Errorf("English %s: %v, %v", n, p, err)
		}
	}
	if len(en.Names()) != len(shippedNames)/2 {
		t.Errorf("English names %q", en.Names())
	}
	if ja, err := c.Language(LangJapanese); err != nil || ja != c {
		t.Errorf("Language(ja) = %v, %v; want the catalog", ja, err)
	}
	if _, err := c.Language("fr"); !errors.Is(err, ErrUnknownPrompt) {
		t.Errorf("Language(fr) error %v", err)
	}
}
