package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
)

// Format is the sample encoding of audio data.
type Format uint8

const (
	FormatUnknown Format = iota
	FormatPCM16          // 16-bit signed little-endian linear PCM (WAVE format 1)
	FormatULaw           // G.711 μ-law, one byte a sample (WAVE format 7)
	FormatALaw           // G.711 A-law, one byte a sample (WAVE format 6)
)

// String returns "pcm16", "ulaw", "alaw" or "unknown".
func (f Format) String() string {
	switch f {
	case FormatPCM16:
		return "pcm16"
	case FormatULaw:
		return "ulaw"
	case FormatALaw:
		return "alaw"
	}
	return "unknown"
}

// BytesPerSample returns 2 for PCM16, 1 for μ-law and A-law, 0 otherwise.
func (f Format) BytesPerSample() int {
	switch f {
	case FormatPCM16:
		return 2
	case FormatULaw, FormatALaw:
		return 1
	}
	return 0
}

// WAVE format tags (RFC 2361 appendix A).
const (
	tagPCM        = 0x0001
	tagFloat      = 0x0003
	tagALaw       = 0x0006
	tagULaw       = 0x0007
	tagExtensible = 0xFFFE
)

// SampleRate is the only rate denwa reads and writes.
const SampleRate = 8000

// ksdataformatSubtype GUIDs are the format tag followed by these 14 bytes.
var guidTail = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// maxFmtChunk bounds the bytes of a fmt chunk that are kept; the rest of a
// larger one is skipped without being stored.
const maxFmtChunk = 64

// WAVReader streams the samples of a WAV file, decoded to linear PCM.
//
// The layout it accepts (all integers little-endian; chunks are padded to
// an even length, and unknown chunks such as LIST are skipped):
//
//	"RIFF" size "WAVE"
//	"fmt " size  tag(2) channels(2) rate(4) byterate(4) align(2) bits(2)
//	             [cbSize(2) validbits(2) mask(4) subformat GUID(16)]  (tag 0xFFFE)
//	... other chunks ...
//	"data" size  samples
//
// It is not safe for concurrent use.
type WAVReader struct {
	r      io.Reader
	format Format
	size   int64 // declared sample bytes in the data chunk
	left   int64 // sample bytes not yet read
	err    error // sticky: set once the data is over or broken
	buf    [1024]byte
}

// NewWAVReader reads the WAV header from r up to the start of the sample
// data. It returns an error wrapping ErrNotWAV, ErrUnsupported or
// ErrUnknownLength when r cannot be read as mono 8000 Hz PCM16, μ-law or
// A-law.
func NewWAVReader(r io.Reader) (*WAVReader, error) {
	w := &WAVReader{r: r}
	if err := w.readHeader(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *WAVReader) readHeader() error {
	var hdr [12]byte
	if _, err := io.ReadFull(w.r, hdr[:]); err != nil {
		return fmt.Errorf("%w: RIFF header: %w", ErrNotWAV, noEOF(err))
	}
	switch {
	case string(hdr[0:4]) == "RF64" || string(hdr[0:4]) == "BW64":
		return fmt.Errorf("%w: %s (64-bit RIFF)", ErrUnsupported, hdr[0:4])
	case string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE":
		return fmt.Errorf("%w: starts with %q", ErrNotWAV, hdr[:])
	}
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(w.r, ch[:]); err != nil {
			if errors.Is(err, io.EOF) && !haveFmt {
				return fmt.Errorf("%w: no fmt chunk", ErrNotWAV)
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: no data chunk", ErrNotWAV)
			}
			return fmt.Errorf("%w: chunk header: %w", ErrNotWAV, noEOF(err))
		}
		id := string(ch[0:4])
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if err := w.readFmt(size); err != nil {
				return err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return fmt.Errorf("%w: data chunk before fmt chunk", ErrNotWAV)
			}
			if size == math.MaxUint32 {
				return ErrUnknownLength
			}
			size -= size % int64(w.format.BytesPerSample())
			w.size, w.left = size, size
			return nil
		default:
			if _, err := io.CopyN(io.Discard, w.r, size+size&1); err != nil {
				return fmt.Errorf("%w: %q chunk of %d bytes: %w", ErrNotWAV, id, size, noEOF(err))
			}
		}
	}
}

func (w *WAVReader) readFmt(size int64) error {
	if size < 16 {
		return fmt.Errorf("%w: fmt chunk of %d bytes (want at least 16)", ErrNotWAV, size)
	}
	var b [maxFmtChunk]byte
	n := min(size, maxFmtChunk)
	if _, err := io.ReadFull(w.r, b[:n]); err != nil {
		return fmt.Errorf("%w: fmt chunk: %w", ErrNotWAV, noEOF(err))
	}
	if rest := size - n + size&1; rest > 0 {
		if _, err := io.CopyN(io.Discard, w.r, rest); err != nil {
			return fmt.Errorf("%w: fmt chunk: %w", ErrNotWAV, noEOF(err))
		}
	}
	tag := binary.LittleEndian.Uint16(b[0:2])
	channels := binary.LittleEndian.Uint16(b[2:4])
	rate := binary.LittleEndian.Uint32(b[4:8])
	align := binary.LittleEndian.Uint16(b[12:14])
	bits := binary.LittleEndian.Uint16(b[14:16])
	if tag == tagExtensible {
		cb := binary.LittleEndian.Uint16(b[16:18])
		if n < 40 || cb < 22 {
			return fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes (want 40)", ErrNotWAV, size)
		}
		if [14]byte(b[26:40]) != guidTail {
			return fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE subformat % x", ErrUnsupported, b[24:40])
		}
		tag = binary.LittleEndian.Uint16(b[24:26])
	}
	switch tag {
	case tagPCM:
		if bits != 16 {
			return fmt.Errorf("%w: %d-bit PCM (want 16-bit)", ErrUnsupported, bits)
		}
		w.format = FormatPCM16
	case tagULaw, tagALaw:
		if bits != 8 {
			return fmt.Errorf("%w: G.711 with %d bits a sample (want 8)", ErrUnsupported, bits)
		}
		w.format = FormatULaw
		if tag == tagALaw {
			w.format = FormatALaw
		}
	case tagFloat:
		return fmt.Errorf("%w: %d-bit floating point (want PCM16, μ-law or A-law)", ErrUnsupported, bits)
	default:
		return fmt.Errorf("%w: format tag 0x%04x (want PCM16, μ-law or A-law)", ErrUnsupported, tag)
	}
	if channels != 1 {
		return fmt.Errorf("%w: %d channels (want mono)", ErrUnsupported, channels)
	}
	if rate != SampleRate {
		return fmt.Errorf("%w: %d Hz (want %d Hz)", ErrUnsupported, rate, SampleRate)
	}
	if align != 0 && int(align) != w.format.BytesPerSample() {
		return fmt.Errorf("%w: block align %d for %s (want %d)", ErrUnsupported, align, w.format, w.format.BytesPerSample())
	}
	return nil
}

// Format returns the encoding of the samples in the file.
func (w *WAVReader) Format() Format { return w.format }

// Rate returns the sample rate, always 8000.
func (w *WAVReader) Rate() int { return SampleRate }

// Len returns the number of samples the data chunk declares.
func (w *WAVReader) Len() int64 { return w.size / int64(w.format.BytesPerSample()) }

// Read decodes up to len(dst) samples into dst and returns how many it
// wrote. At the end of the data it returns io.EOF. When the input ends
// before the data chunk's declared size, Read returns the complete samples
// that were there together with an error wrapping ErrTruncated; a final
// half sample is dropped. Like any io.Reader, process n samples before
// looking at err.
func (w *WAVReader) Read(dst []int16) (int, error) {
	bps := int64(w.format.BytesPerSample())
	total := 0
	for total < len(dst) && w.err == nil {
		if w.left == 0 {
			w.err = io.EOF
			break
		}
		want := min(int64(len(dst)-total)*bps, w.left, int64(len(w.buf)))
		got, err := io.ReadFull(w.r, w.buf[:want])
		got -= got % int(bps)
		w.left -= int64(got)
		total += w.decode(dst[total:], w.buf[:got])
		if err != nil {
			w.err = fmt.Errorf("%w: %d of %d data bytes (%w)", ErrTruncated, w.size-w.left, w.size, noEOF(err))
		}
	}
	if total > 0 {
		return total, nil
	}
	if w.err == nil {
		return 0, nil // len(dst) == 0
	}
	return 0, w.err
}

func (w *WAVReader) decode(dst []int16, src []byte) int {
	switch w.format {
	case FormatULaw:
		n, _ := DecodeULawTo(dst, src)
		return n
	case FormatALaw:
		n, _ := DecodeALawTo(dst, src)
		return n
	}
	n := len(src) / 2
	for i := range n {
		dst[i] = int16(binary.LittleEndian.Uint16(src[2*i:]))
	}
	return n
}

// WAV is a whole decoded WAV file.
type WAV struct {
	Format  Format  // encoding in the file
	Rate    int     // samples a second, always 8000
	Samples []int16 // linear PCM, decoded from Format
}

// maxPrealloc bounds the samples allocated on the word of a header before
// they have been read.
const maxPrealloc = 1 << 16

// ReadWAV reads a whole WAV file. On a data chunk cut short it returns the
// complete samples that were there and an error wrapping ErrTruncated; on
// other errors the *WAV is nil. Memory grows with the bytes actually read,
// never with a size the header merely claims.
func ReadWAV(r io.Reader) (*WAV, error) {
	wr, err := NewWAVReader(r)
	if err != nil {
		return nil, err
	}
	out := &WAV{Format: wr.Format(), Rate: SampleRate, Samples: make([]int16, 0, min(wr.Len(), maxPrealloc))}
	var block [1024]int16
	for {
		n, err := wr.Read(block[:])
		out.Samples = append(out.Samples, block[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// ReadWAVFile reads the WAV file name from fsys (see ReadWAV).
func ReadWAVFile(fsys fs.FS, name string) (*WAV, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w, err := ReadWAV(f)
	if err != nil {
		err = fmt.Errorf("%s: %w", name, err)
	}
	return w, err
}

// WriteWAV writes samples as a mono 8000 Hz WAV file in format f: a
// 44-byte canonical header for PCM16; for μ-law and A-law an 18-byte fmt
// chunk and a fact chunk, as the WAVE specification asks of non-PCM data.
func WriteWAV(w io.Writer, f Format, samples []int16) error {
	bps := f.BytesPerSample()
	var tag uint16
	switch f {
	case FormatPCM16:
		tag = tagPCM
	case FormatULaw:
		tag = tagULaw
	case FormatALaw:
		tag = tagALaw
	default:
		return fmt.Errorf("%w: %d", ErrFormat, f)
	}
	dataLen := int64(len(samples)) * int64(bps)
	pad := dataLen & 1
	var hdr [58]byte
	le := binary.LittleEndian
	copy(hdr[0:], "RIFF")
	copy(hdr[8:], "WAVEfmt ")
	fmtLen := uint32(16)
	if f != FormatPCM16 {
		fmtLen = 18
	}
	le.PutUint32(hdr[16:], fmtLen)
	le.PutUint16(hdr[20:], tag)
	le.PutUint16(hdr[22:], 1)
	le.PutUint32(hdr[24:], SampleRate)
	le.PutUint32(hdr[28:], uint32(SampleRate*bps))
	le.PutUint16(hdr[32:], uint16(bps))
	le.PutUint16(hdr[34:], uint16(8*bps))
	n := 36
	if f != FormatPCM16 {
		le.PutUint16(hdr[36:], 0) // cbSize
		copy(hdr[38:], "fact")
		le.PutUint32(hdr[42:], 4)
		le.PutUint32(hdr[46:], uint32(len(samples)))
		n = 50
	}
	copy(hdr[n:], "data")
	riff := int64(n) + dataLen + pad // file length - 8
	if riff > math.MaxUint32 {
		return fmt.Errorf("audio: %d samples do not fit in a WAV file", len(samples))
	}
	le.PutUint32(hdr[4:], uint32(riff))
	le.PutUint32(hdr[n+4:], uint32(dataLen))
	if _, err := w.Write(hdr[:n+8]); err != nil {
		return err
	}
	var buf [2048]byte
	const chunk = len(buf) / 2
	for len(samples) > 0 {
		s := samples[:min(len(samples), chunk)]
		samples = samples[len(s):]
		var b []byte
		switch f {
		case FormatPCM16:
			for i, v := range s {
				le.PutUint16(buf[2*i:], uint16(v))
			}
			b = buf[:2*len(s)]
		case FormatULaw:
			n, _ := EncodeULawTo(buf[:], s)
			b = buf[:n]
		case FormatALaw:
			n, _ := EncodeALawTo(buf[:], s)
			b = buf[:n]
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if pad != 0 {
		if _, err := w.Write([]byte{0}); err != nil {
			return err
		}
	}
	return nil
}

// noEOF turns io.EOF, which means nothing at all was read, into
// io.ErrUnexpectedEOF: inside a header both mean the input was cut short.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
