package audio

import "errors"

// Sentinel errors. Functions wrap them with %w and the values that matter,
// so test with errors.Is.
var (
	// ErrNotWAV: the input does not start with a RIFF/WAVE header, or its
	// header is cut short or malformed before the sample data.
	ErrNotWAV = errors.New("audio: not a RIFF WAVE file")
	// ErrUnsupported: a well-formed WAV file that denwa does not take:
	// more than one channel, a rate other than 8000 Hz, 8-bit or 24-bit
	// PCM, floating point, or a codec other than PCM16, μ-law and A-law.
	ErrUnsupported = errors.New("audio: unsupported WAV format")
	// ErrTruncated: the data chunk ends before the size its header declares.
	// The samples before the cut are still returned.
	ErrTruncated = errors.New("audio: WAV data truncated")
	// ErrUnknownLength: the data chunk's size is 0xFFFFFFFF, the marker of a
	// WAV file written while streaming whose length was never filled in.
	ErrUnknownLength = errors.New("audio: WAV data size unknown (written while streaming)")
	// ErrFormat: a Format value that WriteWAV does not know.
	ErrFormat = errors.New("audio: unknown sample format")
)
