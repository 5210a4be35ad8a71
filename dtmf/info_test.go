package dtmf

import (
	"errors"
	"strings"
	"testing"
)

func TestInfoFormatOf(t *testing.T) {
	for _, tc := range []struct {
		ct   string
		want InfoFormat
	}{
		{"application/dtmf-relay", InfoDTMFRelay},
		{"Application/DTMF-Relay", InfoDTMFRelay},
		{" application/dtmf-relay ; charset=utf-8", InfoDTMFRelay},
		{"application/dtmf", InfoDTMF},
		{"APPLICATION/DTMF;x=1", InfoDTMF},
		{"application/sdp", InfoUnknown},
		{"application/dtmf-relayx", InfoUnknown},
		{"", InfoUnknown},
	} {
		if got := InfoFormatOf(tc.ct); got != tc.want {
			t.Errorf("InfoFormatOf(%q) = %v, want %v", tc.ct, got, tc.want)
		}
	}
}

func TestParseInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    InfoFormat
		body string
		want InfoKey
		err  error
	}{
		{"relay", InfoDTMFRelay, "Signal=5\r\nDuration=160\r\n", InfoKey{'5', 1280}, nil},
		{"relay-space", InfoDTMFRelay, "Signal= #\r\nDuration= 250\r\n", InfoKey{'#', 2000}, nil},
		{"relay-lf", InfoDTMFRelay, "Signal=*\nDuration=100\n", InfoKey{'*', 800}, nil},
		{"relay-case", InfoDTMFRelay, "SIGNAL=b\r\nduration=40", InfoKey{'B', 320}, nil},
		{"relay-no-duration", InfoDTMFRelay, "Signal=9\r\n", InfoKey{'9', 0}, nil},
		{"relay-bad-duration", InfoDTMFRelay, "Signal=9\r\nDuration=-5\r\n", InfoKey{'9', 0}, nil},
		{"relay-junk-duration", InfoDTMFRelay, "Duration=abc\r\nSignal=9\r\n", InfoKey{'9', 0}, nil},
		{"relay-long-duration", InfoDTMFRelay, "Signal=1\r\nDuration=99999999\r\n", InfoKey{'1', MaxInfoDuration}, nil},
		{"relay-code-10", InfoDTMFRelay, "Signal=10\r\nDuration=160\r\n", InfoKey{'*', 1280}, nil},
		{"relay-code-11", InfoDTMFRelay, "Signal=11\r\n", InfoKey{'#', 0}, nil},
		{"relay-code-15", InfoDTMFRelay, "Signal=15\r\n", InfoKey{'D', 0}, nil},
		{"relay-extra-lines", InfoDTMFRelay, "Foo=bar\r\nnoise\r\nSignal=0\r\nSignal=1\r\n", InfoKey{'0', 0}, nil},
		{"relay-flash", InfoDTMFRelay, "Signal=16\r\nDuration=250\r\n", InfoKey{}, ErrInfoNotKey},
		{"relay-code-200", InfoDTMFRelay, "Signal=200\r\n", InfoKey{}, ErrInfoNotKey},
		{"relay-code-999", InfoDTMFRelay, "Signal=999\r\n", InfoKey{}, ErrInfoSyntax},
		{"relay-letter", InfoDTMFRelay, "Signal=x\r\n", InfoKey{}, ErrInfoSyntax},
		{"relay-empty-signal", InfoDTMFRelay, "Signal=\r\n", InfoKey{}, ErrInfoNoKey},
		{"relay-empty", InfoDTMFRelay, "", InfoKey{}, ErrInfoNoKey},
		{"relay-too-long", InfoDTMFRelay, "Signal=1\r\n" + strings.Repeat("x", MaxInfoBody), InfoKey{}, ErrInfoTooLong},
		{"dtmf", InfoDTMF, "#", InfoKey{'#', 0}, nil},
		{"dtmf-space", InfoDTMF, " 7\r\n", InfoKey{'7', 0}, nil},
		{"dtmf-lower", InfoDTMF, "a", InfoKey{'A', 0}, nil},
		{"dtmf-code", InfoDTMF, "11", InfoKey{'#', 0}, nil},
		{"dtmf-empty", InfoDTMF, " \r\n", InfoKey{}, ErrInfoNoKey},
		{"dtmf-junk", InfoDTMF, "hello", InfoKey{}, ErrInfoSyntax},
		{"unknown", InfoUnknown, "Signal=1", InfoKey{}, ErrInfoFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseInfo(tc.f, []byte(tc.body))
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Errorf("ParseInfo(%v, %q) = %+v, %v; want %+v, %v", tc.f, tc.body, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestAppendDTMFRelay(t *testing.T) {
	b, err := AppendDTMFRelay(nil, '#', 1280)
	if err != nil || string(b) != "Signal=#\r\nDuration=160\r\n" {
		t.Fatalf("AppendDTMFRelay = %q, %v", b, err)
	}
	if b, _ = AppendDTMFRelay(nil, '0', 0); string(b) != "Signal=0\r\n" {
		t.Fatalf("without duration: %q", b)
	}
	if _, err := AppendDTMFRelay(nil, 'x', 80); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("invalid key: %v", err)
	}
	for _, k := range Keys {
		b, _ := AppendDTMFRelay(nil, k, 800)
		got, err := ParseInfo(InfoDTMFRelay, b)
		if err != nil || got != (InfoKey{k, 800}) {
			t.Errorf("round trip %c: %+v, %v", k, got, err)
		}
	}
}

func TestParseInfoAllocs(t *testing.T) {
	body := []byte("Signal=5\r\nDuration=160\r\n")
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseInfo(InfoDTMFRelay, body) }); n != 0 {
		t.Fatalf("ParseInfo allocates %v times", n)
	}
}

// FuzzParseInfo: ParseInfo never panics, reports only valid keys with a
// Duration in range, and a key it reads survives AppendDTMFRelay and
// ParseInfo again unchanged (Duration to the millisecond).
func FuzzParseInfo(f *testing.F) {
	for _, s := range []string{"Signal=5\r\nDuration=160\r\n", "Signal= #\nduration=250\n", "Signal=16\r\n", "Signal=11", "#\r\n"} {
		f.Add(uint8(InfoDTMFRelay), []byte(s))
	}
	f.Fuzz(func(t *testing.T, format uint8, body []byte) {
		fm := InfoFormat(format % 3)
		got, err := ParseInfo(fm, body)
		if err != nil {
			if got != (InfoKey{}) {
				t.Fatalf("error %v with key %+v", err, got)
			}
			return
		}
		if !got.Key.Valid() || got.Duration < 0 || got.Duration > MaxInfoDuration || got.Duration%8 != 0 {
			t.Fatalf("ParseInfo(%v, %q) = %+v", fm, body, got)
		}
		b, err := AppendDTMFRelay(nil, got.Key, got.Duration)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseInfo(InfoDTMFRelay, b)
		if err != nil || again != got {
			t.Fatalf("round trip of %+v through %q: %+v, %v", got, b, again, err)
		}
	})
}
