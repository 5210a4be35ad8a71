package media

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// capturesDir holds recorded and synthetic captures with their expected
// keys (testdata/captures/README.md, written by media/mediatest).
const capturesDir = "../testdata/captures"

// digits renders a result like the .digits files: one line per stream in
// order of first packet, holding its keys.
func digits(res *CaptureResult) string {
	if res == nil {
		return ""
	}
	var b strings.Builder
	for _, s := range res.Streams {
		for _, k := range s.Keys {
			b.WriteByte(byte(k.Key))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestDetectCaptureFiles runs DetectCapture on every capture in
// testdata/captures and compares the keys with its .digits file. Files
// with a .error describe a broken capture: not-a-capture must fail with
// ErrNotCapture, corrupt-start with ErrCorrupt and no keys, truncated with
// ErrTruncated after the keys before the cut. Key detection needs the real
// dtmf package.
func TestDetectCaptureFiles(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(capturesDir, "*.digits"))
	if len(files) == 0 {
		t.Skipf("no captures in %s", capturesDir)
	}
	for _, df := range files {
		name := strings.TrimSuffix(filepath.Base(df), ".digits")
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(df)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(filepath.Join(capturesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := DetectCapture(f, DetectOptions{})
			switch name {
			case "not-a-capture.pcap":
				if !errors.Is(err, ErrNotCapture) || res != nil {
					t.Fatalf("err = %v, want ErrNotCapture", err)
				}
				return
			case "corrupt-start.pcap":
				if !errors.Is(err, ErrCorrupt) || digits(res) != "" {
					t.Fatalf("err = %v, keys %q; want ErrCorrupt and no keys", err, digits(res))
				}
				return
			case "truncated.pcap":
				if !errors.Is(err, ErrTruncated) {
					t.Errorf("err = %v, want ErrTruncated", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := digits(res); got != string(want) {
				t.Errorf("keys %q, want %q", got, want)
				for _, s := range res.Streams {
					t.Logf("stream %v sdp=%v pts=%s stats=%+v", s.ID, s.FromSDP, s.PayloadTypes.String(), s.Stats)
					for _, k := range s.Keys {
						t.Logf("  %v", k)
					}
				}
			}
		})
	}
}
