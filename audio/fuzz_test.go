package audio

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// FuzzReadWAV: ReadWAV never panics, keeps its memory to what it read, and
// whatever it accepts survives WriteWAV → ReadWAV unchanged. Seeds are in
// testdata/fuzz/FuzzReadWAV plus the cases below.
func FuzzReadWAV(f *testing.F) {
	for _, fm := range []Format{FormatPCM16, FormatULaw, FormatALaw} {
		var buf bytes.Buffer
		WriteWAV(&buf, fm, goldenInput()[:33])
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:len(buf.Bytes())-7])
	}
	f.Add(riff(chunk("fmt ", extensible(7, 1, 8000, 8)), chunk("LIST", []byte("odd")), chunk("data", []byte{1, 2, 3})))
	f.Fuzz(func(t *testing.T, in []byte) {
		w, err := ReadWAV(bytes.NewReader(in))
		if err != nil && !errors.Is(err, ErrTruncated) {
			if w != nil {
				t.Fatalf("non-nil WAV with error %v", err)
			}
			return
		}
		if len(w.Samples) > len(in) {
			t.Fatalf("%d samples from %d bytes", len(w.Samples), len(in))
		}
		if cap(w.Samples) > max(len(in), maxPrealloc)*2 {
			t.Fatalf("capacity %d from %d bytes", cap(w.Samples), len(in))
		}
		var out bytes.Buffer
		if err := WriteWAV(&out, w.Format, w.Samples); err != nil {
			t.Fatal(err)
		}
		w2, err := ReadWAV(&out)
		if err != nil {
			t.Fatalf("reading back our own output: %v", err)
		}
		if w2.Format != w.Format || !slices.Equal(w2.Samples, w.Samples) {
			t.Fatalf("round trip changed %v/%d samples into %v/%d", w.Format, len(w.Samples), w2.Format, len(w2.Samples))
		}
	})
}
