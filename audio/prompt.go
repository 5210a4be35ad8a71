package audio

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// shipped holds the prompts denwa ships: prompts/NAME.wav, 8000 Hz mono
// PCM16, made by prompts/generate.sh (texts and levels in README.md).
//
//go:embed prompts/*.wav
var shipped embed.FS

// Names of the shipped prompts, the keys of every Catalog.
const (
	PromptGreeting = "greeting"  // service name and how to answer: #, * then # on analog lines, 0# to report fraud
	PromptWrongKey = "wrong-key" // the input was not valid; asks for # again
	PromptSuccess  = "success"   // verified; thanks
	PromptFraud    = "fraud"     // fraud report acknowledged
	PromptGoodbye  = "goodbye"   // no input; the call ends

	// Challenge mode: a call reads out a code and asks for it. The
	// dialogue plays challenge (or challenge-wrong after a wrong code),
	// the code's digits (PromptDigit), challenge-repeat, the digits
	// again, then challenge-end.
	PromptChallenge       = "challenge"        // service name; how to answer (the code, then #; * first on analog lines; 0# to report fraud); "the code is"
	PromptChallengeRepeat = "challenge-repeat" // "once again" (the code again)
	PromptChallengeEnd    = "challenge-end"    // "press the code, then #"
	PromptChallengeWrong  = "challenge-wrong"  // the input was not valid; "the new code is"
)

// PromptDigit returns the name of the prompt that reads out digit d
// (0–9), "digit-0" … "digit-9", or "" for any other d.
func PromptDigit(d int) string {
	if d < 0 || d > 9 {
		return ""
	}
	return "digit-" + string(rune('0'+d))
}

// Languages of the shipped prompts. Every prompt is shipped in Japanese
// under its name and in English under "en-" and its name ("en-greeting",
// "en-digit-7"); LangName maps one to the other.
const (
	LangJapanese = "ja"
	LangEnglish  = "en"
)

// LangName returns the catalog name of prompt name in language lang:
// name itself for LangJapanese (and ""), "en-"+name for LangEnglish. It
// returns "" for any other lang.
func LangName(lang, name string) string {
	switch lang {
	case LangJapanese, "":
		return name
	case LangEnglish:
		return "en-" + name
	}
	return ""
}

// FrameSamples is the number of samples in one 20 ms frame at 8000 Hz, and
// the number of bytes in one G.711 frame.
const FrameSamples = SampleRate / 50

// MaxPromptSamples is the longest prompt a Catalog takes: 20 s at 8000 Hz.
const MaxPromptSamples = 20 * SampleRate

// Codec is the G.711 law of the frames a Prompt hands out. The media layer
// maps RTP payload types to it (0 to PCMU, 8 to PCMA).
type Codec uint8

const (
	CodecUnknown Codec = iota // zero value; Prompt.Frame returns nil for it
	PCMU                      // G.711 μ-law
	PCMA                      // G.711 A-law
)

// String returns "PCMU", "PCMA" or "unknown".
func (c Codec) String() string {
	switch c {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return "unknown"
}

// Prompt is one decoded prompt, ready to send: its linear samples and the
// same audio encoded once, at load, into 20 ms G.711 frames of
// FrameSamples bytes for both μ-law and A-law. The last frame is padded
// with silence.
//
// A Prompt is immutable. Every slice its methods return is shared with all
// other users of the Prompt, without a copy: treat it as read-only. Any
// number of goroutines may use one Prompt at once, so one Prompt serves
// every concurrent call that plays it.
type Prompt struct {
	name       string
	format     Format  // encoding of the file it was read from
	overridden bool    // read from the operator's fs.FS, not the shipped set
	samples    []int16 // len = Len(); cap = NumFrames()*FrameSamples, zero-padded
	ulaw       []byte  // NumFrames()*FrameSamples bytes
	alaw       []byte  // NumFrames()*FrameSamples bytes
	// The same as one slice a frame (Frames), built once for every call
	// that plays the prompt.
	ulawFrames, alawFrames [][]byte
}

// newPrompt takes ownership of samples and encodes the frames.
func newPrompt(name string, format Format, overridden bool, samples []int16) *Prompt {
	n := len(samples)
	frames := (n + FrameSamples - 1) / FrameSamples
	padded := samples
	if cap(padded) < frames*FrameSamples {
		padded = make([]int16, frames*FrameSamples)
		copy(padded, samples)
	} else {
		padded = padded[:frames*FrameSamples]
		clear(padded[n:])
	}
	enc := make([]byte, 2*len(padded))
	ulaw, alaw := enc[:len(padded):len(padded)], enc[len(padded):]
	// Cannot fail: dst is exactly as long as src.
	EncodeULawTo(ulaw, padded)
	EncodeALawTo(alaw, padded)
	return &Prompt{
		name:       name,
		format:     format,
		overridden: overridden,
		samples:    padded[:n:n],
		ulaw:       ulaw,
		alaw:       alaw,
		ulawFrames: splitFrames(ulaw),
		alawFrames: splitFrames(alaw),
	}
}

// splitFrames cuts b into FrameSamples-byte frames, each capped at its end.
func splitFrames(b []byte) [][]byte {
	out := make([][]byte, len(b)/FrameSamples)
	for i := range out {
		lo, hi := i*FrameSamples, (i+1)*FrameSamples
		out[i] = b[lo:hi:hi]
	}
	return out
}

// Name returns the prompt's catalog key, e.g. "greeting".
func (p *Prompt) Name() string { return p.name }

// Format returns the encoding of the WAV file the prompt was read from.
func (p *Prompt) Format() Format { return p.format }

// Overridden reports whether the prompt came from the operator's fs.FS
// rather than from the prompts shipped with denwa.
func (p *Prompt) Overridden() bool { return p.overridden }

// Len returns the number of samples, at 8000 Hz, before padding.
func (p *Prompt) Len() int { return len(p.samples) }

// Duration returns Len() as a time: Len()/8000 seconds.
func (p *Prompt) Duration() time.Duration {
	return time.Duration(len(p.samples)) * time.Second / SampleRate
}

// Samples returns the linear samples, without the padding of the last
// frame. The slice is shared and read-only.
func (p *Prompt) Samples() []int16 { return p.samples }

// NumFrames returns the number of 20 ms frames: Len()/FrameSamples rounded
// up.
func (p *Prompt) NumFrames() int { return len(p.ulaw) / FrameSamples }

// Frame returns frame i (0 ≤ i < NumFrames()) encoded with codec c: exactly
// FrameSamples bytes, ready to be an RTP payload. It returns nil when i is
// out of range or c is neither PCMU nor PCMA.
//
// The slice is shared by every caller and read-only; its capacity ends with
// the frame, so appending to it copies instead of writing into the next
// frame. Frame does not allocate, so a paced sender can call it on each
// 20 ms tick:
//
//	for i := range p.NumFrames() {
//		<-tick
//		send(p.Frame(i, codec))
//	}
func (p *Prompt) Frame(i int, c Codec) []byte {
	b := p.Encoded(c)
	lo := i * FrameSamples
	if i < 0 || lo >= len(b) {
		return nil
	}
	hi := lo + FrameSamples
	return b[lo:hi:hi]
}

// Frames returns every frame encoded with codec c, Frames(c)[i] being
// Frame(i, c), or nil for a codec other than PCMU and PCMA. The list is
// built once, when the prompt is loaded, and shared by every caller: a
// thousand calls playing the greeting hold no copy of it, not even of its
// 795 slice headers. It is read-only, frames and list alike.
func (p *Prompt) Frames(c Codec) [][]byte {
	switch c {
	case PCMU:
		return p.ulawFrames
	case PCMA:
		return p.alawFrames
	}
	return nil
}

// Encoded returns all frames encoded with codec c, back to back:
// NumFrames()*FrameSamples bytes, the last frame padded with silence, or nil
// for a codec other than PCMU and PCMA. Frame i is
// Encoded(c)[i*FrameSamples:(i+1)*FrameSamples]. The slice is shared and
// read-only.
func (p *Prompt) Encoded(c Codec) []byte {
	switch c {
	case PCMU:
		return p.ulaw
	case PCMA:
		return p.alaw
	}
	return nil
}

// String returns e.g. "greeting (15.882s, 795 frames)".
func (p *Prompt) String() string {
	return fmt.Sprintf("%s (%v, %d frames)", p.name, p.Duration(), p.NumFrames())
}

// Catalog is the set of prompts a call can play, keyed by name: the shipped
// prompts, some of them perhaps replaced by the operator's recordings. It is
// immutable once LoadCatalog returns it, so any number of goroutines may
// use it and the Prompts in it at once.
type Catalog struct {
	prompts map[string]*Prompt
	names   []string // sorted
	ignored []string // override files that are not NAME.wav for a known NAME
}

// LoadCatalog decodes the shipped prompts and encodes their frames. When
// override is not nil, each file NAME.wav at its root whose NAME is a
// shipped prompt's name replaces that prompt; a prompt without a file there
// keeps the shipped one. Other files and directories in override are not
// read: Ignored lists them, so the caller can warn about, say, a misspelt
// name.
//
// An override file must be an 8000 Hz mono WAV file in 16-bit PCM, μ-law or
// A-law of at most MaxPromptSamples samples (20 s). When one or more are
// not, LoadCatalog returns no catalog and an error joining one *PromptError
// per bad file, each naming the file, what is wrong and how to convert it.
// Memory read from a file is bounded by MaxPromptSamples, whatever its
// header claims. When the root of override cannot be listed, the error
// wraps the fs.FS error.
func LoadCatalog(override fs.FS) (*Catalog, error) {
	entries, err := fs.ReadDir(shipped, "prompts")
	if err != nil {
		return nil, fmt.Errorf("audio: shipped prompts: %w", err)
	}
	c := &Catalog{prompts: make(map[string]*Prompt, len(entries))}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".wav")
		if !ok {
			continue
		}
		p, err := readPrompt(shipped, path.Join("prompts", e.Name()), name, false)
		if err != nil {
			return nil, fmt.Errorf("audio: shipped prompt: %w", err)
		}
		c.prompts[name] = p
		c.names = append(c.names, name)
	}
	slices.Sort(c.names)
	if override == nil {
		return c, nil
	}
	entries, err = fs.ReadDir(override, ".")
	if err != nil {
		return nil, fmt.Errorf("audio: prompt overrides: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".wav")
		if !ok || e.IsDir() || c.prompts[name] == nil {
			c.ignored = append(c.ignored, e.Name())
			continue
		}
		p, err := readPrompt(override, e.Name(), name, true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.prompts[name] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// readPrompt reads file from fsys as the prompt name. Its errors are
// *PromptError.
func readPrompt(fsys fs.FS, file, name string, overridden bool) (*Prompt, error) {
	f, err := fsys.Open(file)
	if err != nil {
		return nil, &PromptError{File: file, Err: err}
	}
	defer f.Close()
	var magic [12]byte
	m, err := io.ReadFull(f, magic[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, &PromptError{File: file, Err: err}
	}
	fail := func(err error) (*Prompt, error) {
		return nil, &PromptError{File: file, Err: err, magic: magic[:m]}
	}
	wr, err := NewWAVReader(io.MultiReader(bytes.NewReader(magic[:m]), f))
	if err != nil {
		return fail(err)
	}
	if n := wr.Len(); n > MaxPromptSamples {
		return fail(fmt.Errorf("%w: %.1f s (%d samples; at most %d s)", ErrPromptTooLong,
			float64(n)/SampleRate, n, MaxPromptSamples/SampleRate))
	}
	// Room for the padding of the last frame, so newPrompt need not copy.
	frames := (int(wr.Len()) + FrameSamples - 1) / FrameSamples
	samples := make([]int16, frames*FrameSamples)
	n := 0
	for n < len(samples) {
		k, err := wr.Read(samples[n:])
		n += k
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
	}
	if n == 0 {
		return fail(ErrPromptEmpty)
	}
	return newPrompt(name, wr.Format(), overridden, samples[:n]), nil
}

// Language returns the catalog as a caller speaking lang hears it: for
// LangEnglish, Get(name) gives the prompt en-NAME and Names lists the
// names without their "en-"; for LangJapanese (and "") the catalog
// itself. The view shares the prompts. An unknown lang gives an error
// wrapping ErrUnknownPrompt.
func (c *Catalog) Language(lang string) (*Catalog, error) {
	switch lang {
	case LangJapanese, "":
		return c, nil
	case LangEnglish:
	default:
		return nil, fmt.Errorf("%w: language %q (want %s or %s)", ErrUnknownPrompt, lang, LangJapanese, LangEnglish)
	}
	v := &Catalog{prompts: map[string]*Prompt{}, ignored: c.ignored}
	for _, n := range c.names {
		if base, ok := strings.CutPrefix(n, "en-"); ok {
			v.prompts[base] = c.prompts[n]
			v.names = append(v.names, base)
		}
	}
	return v, nil
}

// Get returns the prompt called name, or an error wrapping
// ErrUnknownPrompt.
func (c *Catalog) Get(name string) (*Prompt, error) {
	if p := c.prompts[name]; p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("%w: %q (have %s)", ErrUnknownPrompt, name, strings.Join(c.names, ", "))
}

// Names returns the names of the prompts, sorted. The slice is the
// caller's.
func (c *Catalog) Names() []string { return slices.Clone(c.names) }

// Ignored returns the names of the entries at the root of the override
// fs.FS that LoadCatalog did not read because they are not NAME.wav for a
// prompt's NAME (names are case-sensitive), sorted. The slice is the
// caller's.
func (c *Catalog) Ignored() []string { return slices.Clone(c.ignored) }
