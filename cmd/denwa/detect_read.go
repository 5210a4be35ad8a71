package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"unsafe"

	"denwa/audio"
)

// The reading path of `denwa detect` for audio files. The detector runs at
// tens of thousands of times real time, so reading and decoding are a good
// part of the work; see docs/dtmf.md ("Speed, side by side with spandsp").

// detectGCPercent is the GC percentage (GOGC) while `denwa detect` runs. At
// the default 100 the heap left by the packages' initialisation (2.5 MB of
// phone-number tables alone) plus the keys of an hour of audio starts a
// collection that costs about 3 ms of CPU, 5% of detecting that hour; at 400
// the heap may grow to five times what is live before one runs, a few MB
// for audio files and well under the memory of any machine for captures.
const detectGCPercent = 400

// detectReadSamples is how many samples `denwa detect` reads at a time from
// an audio file: 64 KB of PCM16, as much as the bufio.Reader holds, so each
// read goes straight from the file into the samples.
const detectReadSamples = 1 << 15

// littleEndian: this machine stores an int16 as a WAV file does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// pcm16Reader reads the data chunk of a PCM16 WAV file straight into the
// caller's samples rather than through a byte buffer and a per-sample
// decode. It reports the end and a cut-short file as audio.WAVReader.Read
// does.
type pcm16Reader struct {
	r          io.Reader
	size, left int64 // data bytes declared, and not yet read
	err        error
}

// newPCM16Reader reads the data chunk that starts in br, positioned after
// its header (audio.NewWAVReader), and goes on in f, the reader br reads
// from: what br holds first, then f itself, so the samples are not copied
// through br's buffer.
func newPCM16Reader(wr *audio.WAVReader, br *bufio.Reader, f io.Reader) *pcm16Reader {
	size := 2 * wr.Len()
	r := io.MultiReader(io.LimitReader(br, int64(br.Buffered())), f)
	return &pcm16Reader{r: r, size: size, left: size}
}

func (p *pcm16Reader) Read(dst []int16) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	if p.left == 0 {
		p.err = io.EOF
		return 0, p.err
	}
	n := int(min(int64(len(dst)), p.left/2))
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 2*n)
	got, err := io.ReadFull(p.r, b)
	got -= got % 2
	p.left -= int64(got)
	if !littleEndian {
		for i := range got / 2 {
			dst[i] = int16(bits.ReverseBytes16(uint16(dst[i])))
		}
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		p.err = fmt.Errorf("%w: %d of %d data bytes (%w)", audio.ErrTruncated, p.size-p.left, p.size, err)
		if got == 0 {
			return 0, p.err
		}
	}
	return got / 2, nil
}

// readBlocks turns a reader of samples into detectAudio's source: each call
// returns the samples of one read, in a buffer the next call reuses.
func readBlocks(read func([]int16) (int, error)) func() ([]int16, error) {
	buf := make([]int16, detectReadSamples)
	return func() ([]int16, error) {
		n, err := read(buf)
		return buf[:n], err
	}
}
