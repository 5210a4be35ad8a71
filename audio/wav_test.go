package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// chunk builds one RIFF chunk, padded to an even length.
func chunk(id string, body []byte) []byte {
	b := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(body)))
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func fmtBody(tag, channels uint16, rate uint32, bits uint16) []byte {
	b := make([]byte, 16)
	le := binary.LittleEndian
	le.PutUint16(b[0:], tag)
	le.PutUint16(b[2:], channels)
	le.PutUint32(b[4:], rate)
	align := channels * bits / 8
	le.PutUint32(b[8:], rate*uint32(align))
	le.PutUint16(b[12:], align)
	le.PutUint16(b[14:], bits)
	return b
}

func extensible(sub uint16, channels uint16, rate uint32, bits uint16) []byte {
	b := fmtBody(tagExtensible, channels, rate, bits)
	ext := make([]byte, 24)
	binary.LittleEndian.PutUint16(ext[0:], 22)
	binary.LittleEndian.PutUint16(ext[2:], bits)
	binary.LittleEndian.PutUint32(ext[4:], 4) // front centre
	binary.LittleEndian.PutUint16(ext[8:], sub)
	copy(ext[10:], guidTail[:])
	return append(b, ext...)
}

func riff(chunks ...[]byte) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WAVE")
	for _, c := range chunks {
		b = append(b, c...)
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

func TestReadWAV(t *testing.T) {
	pcm := s16le([]int16{1, -2, 300, -32768, 32767})
	law := []byte{0xFF, 0x00, 0x80, 0x7F, 0x55}
	lawU := []int16{ulawToPCM[0xFF], ulawToPCM[0x00], ulawToPCM[0x80], ulawToPCM[0x7F], ulawToPCM[0x55]}
	lawA := []int16{alawToPCM[0xFF], alawToPCM[0x00], alawToPCM[0x80], alawToPCM[0x7F], alawToPCM[0x55]}
	list := chunk("LIST", []byte("INFOISFT\x05\x00\x00\x00sox!\x00")) // odd body, padded
	cases := []struct {
		name    string
		in      []byte
		format  Format
		samples []int16
		err     error
	}{
		{"pcm16", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), chunk("data", pcm)), FormatPCM16, []int16{1, -2, 300, -32768, 32767}, nil},
		{"ulaw", riff(chunk("fmt ", fmtBody(7, 1, 8000, 8)), chunk("data", law)), FormatULaw, lawU, nil},
		{"alaw", riff(chunk("fmt ", fmtBody(6, 1, 8000, 8)), chunk("data", law)), FormatALaw, lawA, nil},
		{"fmt with cbSize", riff(chunk("fmt ", append(fmtBody(7, 1, 8000, 8), 0, 0)), chunk("fact", []byte{5, 0, 0, 0}), chunk("data", law)), FormatULaw, lawU, nil},
		{"extensible pcm", riff(chunk("fmt ", extensible(1, 1, 8000, 16)), chunk("data", pcm)), FormatPCM16, []int16{1, -2, 300, -32768, 32767}, nil},
		{"extensible alaw", riff(chunk("fmt ", extensible(6, 1, 8000, 8)), chunk("data", law)), FormatALaw, lawA, nil},
		{"LIST before fmt and data, odd sizes", riff(list, chunk("fmt ", fmtBody(7, 1, 8000, 8)), list, chunk("data", law)), FormatULaw, lawU, nil},
		{"trailing chunk after data", riff(chunk("fmt ", fmtBody(7, 1, 8000, 8)), chunk("data", law), list), FormatULaw, lawU, nil},
		{"empty data", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), chunk("data", nil)), FormatPCM16, []int16{}, nil},
		{"odd pcm16 data size drops the half sample", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), chunk("data", pcm[:5])), FormatPCM16, []int16{1, -2}, nil},

		{"stereo", riff(chunk("fmt ", fmtBody(1, 2, 8000, 16)), chunk("data", pcm)), 0, nil, ErrUnsupported},
		{"16 kHz", riff(chunk("fmt ", fmtBody(1, 1, 16000, 16)), chunk("data", pcm)), 0, nil, ErrUnsupported},
		{"8-bit PCM", riff(chunk("fmt ", fmtBody(1, 1, 8000, 8)), chunk("data", law)), 0, nil, ErrUnsupported},
		{"24-bit PCM", riff(chunk("fmt ", fmtBody(1, 1, 8000, 24)), chunk("data", pcm)), 0, nil, ErrUnsupported},
		{"float", riff(chunk("fmt ", fmtBody(3, 1, 8000, 32)), chunk("data", pcm[:8])), 0, nil, ErrUnsupported},
		{"extensible float", riff(chunk("fmt ", extensible(3, 1, 8000, 32)), chunk("data", pcm[:8])), 0, nil, ErrUnsupported},
		{"extensible stereo", riff(chunk("fmt ", extensible(1, 2, 8000, 16)), chunk("data", pcm[:8])), 0, nil, ErrUnsupported},
		{"GSM", riff(chunk("fmt ", fmtBody(0x31, 1, 8000, 0)), chunk("data", pcm)), 0, nil, ErrUnsupported},
		{"RF64", append([]byte("RF64"), riff()[4:]...), 0, nil, ErrUnsupported},
		{"streaming size", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), []byte("data\xff\xff\xff\xff\x01\x00")), 0, nil, ErrUnknownLength},

		{"empty input", nil, 0, nil, ErrNotWAV},
		{"not RIFF", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"), 0, nil, ErrNotWAV},
		{"truncated RIFF header", []byte("RIFF\x10\x00"), 0, nil, ErrNotWAV},
		{"truncated fmt", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)))[:30], 0, nil, ErrNotWAV},
		{"short fmt", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)[:14]), chunk("data", pcm)), 0, nil, ErrNotWAV},
		{"no fmt", riff(chunk("LIST", nil)), 0, nil, ErrNotWAV},
		{"no data", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16))), 0, nil, ErrNotWAV},
		{"data before fmt", riff(chunk("data", pcm), chunk("fmt ", fmtBody(1, 1, 8000, 16))), 0, nil, ErrNotWAV},
		{"unknown chunk runs past the end", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), []byte("junk\x00\x00\x00\x10abc")), 0, nil, ErrNotWAV},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := ReadWAV(bytes.NewReader(c.in))
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				if !strings.HasPrefix(err.Error(), "audio: ") {
					t.Errorf("error %q does not start with \"audio: \"", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Format != c.format || w.Rate != 8000 || !slices.Equal(w.Samples, c.samples) {
				t.Errorf("got %v %d Hz %v, want %v 8000 Hz %v", w.Format, w.Rate, w.Samples, c.format, c.samples)
			}
		})
	}
}

// A data chunk cut short keeps every complete sample and says so.
func TestReadWAVTruncatedData(t *testing.T) {
	x := goldenInput()[:101]
	var buf bytes.Buffer
	if err := WriteWAV(&buf, FormatPCM16, x); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	for _, cut := range []int{44, 45, 46, 47, 44 + 100, 44 + 201} {
		w, err := ReadWAV(bytes.NewReader(full[:cut]))
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d: err = %v, want ErrTruncated", cut, err)
		}
		want := x[:(cut-44)/2]
		if w == nil || !slices.Equal(w.Samples, want) {
			t.Fatalf("cut at %d: got %d samples, want %d", cut, len(w.Samples), len(want))
		}
	}
	// The streaming reader reports the same after the last good samples.
	r, err := NewWAVReader(bytes.NewReader(full[:44+51]))
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 101 {
		t.Errorf("Len() = %d, want the declared 101", r.Len())
	}
	got := make([]int16, 0, 101)
	block := make([]int16, 7)
	for {
		n, err := r.Read(block)
		got = append(got, block[:n]...)
		if err != nil {
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("err = %v, want ErrTruncated", err)
			}
			break
		}
	}
	if !slices.Equal(got, x[:25]) {
		t.Errorf("streamed %d samples before the cut, want 25", len(got))
	}
}

// A header claiming 4 GiB of data must not make the reader allocate it.
func TestReadWAVHugeClaimedSize(t *testing.T) {
	in := riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), []byte("data\xfe\xff\xff\xff\x01\x00\x02\x00"))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	w, err := ReadWAV(bytes.NewReader(in))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncated) || !slices.Equal(w.Samples, []int16{1, 2}) {
		t.Fatalf("got %v, %v", w, err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("reading a 52-byte file allocated %d bytes", d)
	}
	// A huge unknown chunk is skipped without being stored.
	in = riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), []byte("LIST\xff\xff\xff\x7fabc"))
	runtime.ReadMemStats(&before)
	_, err = ReadWAV(bytes.NewReader(in))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrNotWAV) {
		t.Fatalf("err = %v, want ErrNotWAV", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("skipping a claimed 2 GiB chunk allocated %d bytes", d)
	}
}

func TestWriteWAVRoundTrip(t *testing.T) {
	x := goldenInput()
	for _, f := range []Format{FormatPCM16, FormatULaw, FormatALaw} {
		for _, n := range []int{0, 1, 160, len(x)} {
			var buf bytes.Buffer
			if err := WriteWAV(&buf, f, x[:n]); err != nil {
				t.Fatal(err)
			}
			if buf.Len()%2 != 0 {
				t.Errorf("%v/%d: odd file length %d", f, n, buf.Len())
			}
			if got := binary.LittleEndian.Uint32(buf.Bytes()[4:]); int(got) != buf.Len()-8 {
				t.Errorf("%v/%d: RIFF size %d, file %d bytes", f, n, got, buf.Len())
			}
			w, err := ReadWAV(&buf)
			if err != nil {
				t.Fatalf("%v/%d: %v", f, n, err)
			}
			want := slices.Clone(x[:n])
			switch f {
			case FormatULaw:
				code := make([]byte, n)
				EncodeULawTo(code, want)
				DecodeULawTo(want, code)
			case FormatALaw:
				code := make([]byte, n)
				EncodeALawTo(code, want)
				DecodeALawTo(want, code)
			}
			if w.Format != f || !slices.Equal(w.Samples, want) {
				t.Errorf("%v/%d: read back %v with %d samples", f, n, w.Format, len(w.Samples))
			}
		}
	}
	if err := WriteWAV(io.Discard, FormatUnknown, x); !errors.Is(err, ErrFormat) {
		t.Errorf("WriteWAV(FormatUnknown) = %v, want ErrFormat", err)
	}
}

// The WAV golden files are the output of WriteWAV for testdata/x.s16le.
func TestWAVGolden(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "x.s16le"))
	if err != nil {
		t.Fatal(err)
	}
	x := fromS16le(t, in)
	for _, c := range []struct {
		name string
		f    Format
	}{{"x.wav", FormatPCM16}, {"x.ulaw.wav", FormatULaw}, {"x.alaw.wav", FormatALaw}} {
		var buf bytes.Buffer
		if err := WriteWAV(&buf, c.f, x); err != nil {
			t.Fatal(err)
		}
		golden(t, c.name, buf.Bytes())
		w, err := ReadWAVFile(os.DirFS("testdata"), c.name)
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		switch c.f {
		case FormatPCM16:
			want = in
		case FormatULaw:
			want, _ = os.ReadFile(filepath.Join("testdata", "x.ulaw.s16le"))
		case FormatALaw:
			want, _ = os.ReadFile(filepath.Join("testdata", "x.alaw.s16le"))
		}
		if !bytes.Equal(s16le(w.Samples), want) {
			t.Errorf("%s: samples differ from the golden decode", c.name)
		}
	}
}

func TestReadWAVFile(t *testing.T) {
	var buf bytes.Buffer
	WriteWAV(&buf, FormatULaw, []int16{0, 100})
	fsys := fstest.MapFS{"p.wav": {Data: buf.Bytes()}, "bad.wav": {Data: []byte("nope")}}
	if w, err := ReadWAVFile(fsys, "p.wav"); err != nil || len(w.Samples) != 2 {
		t.Errorf("ReadWAVFile = %v, %v", w, err)
	}
	if _, err := ReadWAVFile(fsys, "bad.wav"); !errors.Is(err, ErrNotWAV) || !strings.Contains(err.Error(), "bad.wav") {
		t.Errorf("ReadWAVFile(bad) = %v", err)
	}
	if _, err := ReadWAVFile(fsys, "missing.wav"); err == nil {
		t.Error("ReadWAVFile(missing) succeeded")
	}
}

func TestWAVReaderZeroAllocs(t *testing.T) {
	var buf bytes.Buffer
	WriteWAV(&buf, FormatULaw, make([]int16, 8000))
	data := buf.Bytes()
	br := bytes.NewReader(data)
	r, err := NewWAVReader(br)
	if err != nil {
		t.Fatal(err)
	}
	block := make([]int16, 160)
	allocs := testing.AllocsPerRun(40, func() {
		if _, err := r.Read(block); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("WAVReader.Read allocates %v times a block", allocs)
	}
}
