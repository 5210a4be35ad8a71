package audio

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors of the prompt catalog. Test with errors.Is.
var (
	// ErrUnknownPrompt: Catalog.Get was asked for a name the catalog does
	// not have.
	ErrUnknownPrompt = errors.New("audio: unknown prompt")
	// ErrPromptTooLong: a prompt file holds more than MaxPromptSamples
	// samples (20 s at 8000 Hz).
	ErrPromptTooLong = errors.New("audio: prompt too long")
	// ErrPromptEmpty: a prompt file is a valid WAV file without samples.
	ErrPromptEmpty = errors.New("audio: prompt has no samples")
)

// PromptError is the error LoadCatalog returns for an operator's prompt
// file it cannot use. Its message names the file, says what is wrong and
// how to convert the file; errors.Is sees through it to ErrNotWAV,
// ErrUnsupported, ErrTruncated, ErrUnknownLength, ErrPromptTooLong,
// ErrPromptEmpty or the fs.FS error that opening or reading it gave.
type PromptError struct {
	File string // the file's name in the override fs.FS, e.g. "greeting.wav"
	Err  error  // what is wrong
	// magic is the file's first bytes, kept to recognise MP3, Ogg, FLAC and
	// the like in the message.
	magic []byte
}

// Error returns, for example:
//
//	audio: prompt file greeting.wav: unsupported WAV format: 16000 Hz (want 8000 Hz); convert it with: sox in.wav -r 8000 -c 1 -b 16 greeting.wav
func (e *PromptError) Error() string {
	var b strings.Builder
	b.WriteString("audio: prompt file ")
	b.WriteString(e.File)
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "audio: "))
	if kind := sniffContainer(e.magic); kind != "" && errors.Is(e.Err, ErrNotWAV) {
		fmt.Fprintf(&b, " (this looks like %s, not WAV)", kind)
	}
	switch {
	case errors.Is(e.Err, ErrPromptTooLong):
		fmt.Fprintf(&b, "; shorten it to at most %d s, e.g. with: sox in.wav %s trim 0 %d", MaxPromptSamples/SampleRate, e.File, MaxPromptSamples/SampleRate)
	case errors.Is(e.Err, ErrNotWAV), errors.Is(e.Err, ErrUnsupported), errors.Is(e.Err, ErrUnknownLength),
		errors.Is(e.Err, ErrTruncated):
		fmt.Fprintf(&b, "; prompts must be 8000 Hz mono WAV (16-bit PCM, μ-law or A-law); convert it with: sox in.wav -r 8000 -c 1 -b 16 %s", e.File)
	}
	return b.String()
}

// Unwrap returns e.Err.
func (e *PromptError) Unwrap() error { return e.Err }

// sniffContainer names well-known non-WAV audio formats from their first
// bytes, or returns "".
func sniffContainer(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("ID3")), len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0:
		return "MP3"
	case bytes.HasPrefix(b, []byte("OggS")):
		return "Ogg"
	case bytes.HasPrefix(b, []byte("fLaC")):
		return "FLAC"
	case bytes.HasPrefix(b, []byte("FORM")):
		return "AIFF"
	case len(b) >= 8 && string(b[4:8]) == "ftyp":
		return "MP4/M4A"
	}
	return ""
}
