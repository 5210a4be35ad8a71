package audio

import (
	"io"
	"sync"

	"github.com/zaf/g711"
)

// Decode tables: the 256 possible G.711 codes, decoded once by zaf/g711's
// DecodeUlawFrame/DecodeAlawFrame.
//
// Encode tables: all 65536 samples, encoded once by zaf/g711's
// EncodeUlawFrame/EncodeAlawFrame; a lookup per sample is several times
// faster than EncodeUlawFrame per sample (BenchmarkEncodeULaw against
// BenchmarkEncodeULawPerSample; docs/performance.md). The tables cost
// 64 KiB each and about 0.2 ms to fill, so they are built on first use,
// not at init: programs that never encode never pay for them.
var (
	ulawEncTable = sync.OnceValue(func() *[65536]byte {
		var t [65536]byte
		for i := range t {
			t[i] = g711.EncodeUlawFrame(int16(uint16(i)))
		}
		return &t
	})
	alawEncTable = sync.OnceValue(func() *[65536]byte {
		var t [65536]byte
		for i := range t {
			t[i] = g711.EncodeAlawFrame(int16(uint16(i)))
		}
		return &t
	})

	ulawToPCM = func() (t [256]int16) {
		for i := range t {
			t[i] = g711.DecodeUlawFrame(uint8(i))
		}
		return t
	}()
	alawToPCM = func() (t [256]int16) {
		for i := range t {
			t[i] = g711.DecodeAlawFrame(uint8(i))
		}
		return t
	}()
)

// DecodeULawTo decodes the μ-law bytes of src into linear samples in dst and
// returns len(src). dst must hold len(src) samples, or nothing is written
// and io.ErrShortBuffer is returned. It does not allocate.
func DecodeULawTo(dst []int16, src []byte) (int, error) {
	if len(dst) < len(src) {
		return 0, io.ErrShortBuffer
	}
	dst = dst[:len(src)]
	for i, c := range src {
		dst[i] = ulawToPCM[c]
	}
	return len(src), nil
}

// DecodeALawTo decodes the A-law bytes of src into linear samples in dst;
// otherwise as DecodeULawTo.
func DecodeALawTo(dst []int16, src []byte) (int, error) {
	if len(dst) < len(src) {
		return 0, io.ErrShortBuffer
	}
	dst = dst[:len(src)]
	for i, c := range src {
		dst[i] = alawToPCM[c]
	}
	return len(src), nil
}

// EncodeULawTo encodes the linear samples of src as μ-law bytes in dst and
// returns len(src). dst must hold len(src) bytes, or nothing is written and
// io.ErrShortBuffer is returned. It does not allocate.
func EncodeULawTo(dst []byte, src []int16) (int, error) {
	if len(dst) < len(src) {
		return 0, io.ErrShortBuffer
	}
	dst = dst[:len(src)]
	t := ulawEncTable()
	for i, s := range src {
		dst[i] = t[uint16(s)]
	}
	return len(src), nil
}

// EncodeALawTo encodes the linear samples of src as A-law bytes in dst;
// otherwise as EncodeULawTo.
func EncodeALawTo(dst []byte, src []int16) (int, error) {
	if len(dst) < len(src) {
		return 0, io.ErrShortBuffer
	}
	dst = dst[:len(src)]
	t := alawEncTable()
	for i, s := range src {
		dst[i] = t[uint16(s)]
	}
	return len(src), nil
}
