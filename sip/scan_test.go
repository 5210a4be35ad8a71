package sip

import (
	"strings"
	"testing"

	sipgo_sip "github.com/emiago/sipgo/sip"
)

func TestScanStart(t *testing.T) {
	cases := []struct {
		name, in string
		ok       bool
		method   string // "" for a response
		toTag    bool
	}{
		{"options", "OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n", true, "OPTIONS", false},
		{"bye-in-dialog", "BYE sip:a@b SIP/2.0\r\nTo: <sip:a@b>;tag=x\r\n\r\n", true, "BYE", true},
		{"compact-to", "BYE sip:a@b SIP/2.0\r\nt :<sip:a@b> ;TAG=x\r\n\r\n", true, "BYE", true},
		{"tag-in-body-only", "INVITE sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\nTo: x;tag=y\r\n", true, "INVITE", false},
		{"tag-in-from", "INVITE sip:a@b SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\n\r\n", true, "INVITE", false},
		{"response", "SIP/2.0 200 OK\r\n\r\n", true, "", false},
		{"response-no-code", "SIP/2.0 OK\r\n\r\n", false, "", false},
		{"lf-only", "OPTIONS sip:a@b SIP/2.0\n\n", false, "", false},
		{"version", "OPTIONS sip:a@b SIP/3.0\r\n\r\n", false, "", false},
		{"no-uri", "OPTIONS  SIP/2.0\r\n\r\n", false, "", false},
		{"binary-method", "OPT\x00ONS sip:a@b SIP/2.0\r\n\r\n", false, "", false},
		{"no-line", "OPTIONS sip:a@b SIP/2.0", false, "", false},
		{"empty", "", false, "", false},
		{"crlf", "\r\n", false, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sl, ok := scanStart([]byte(tc.in))
			if ok != tc.ok || string(sl.method) != tc.method || sl.response != (ok && tc.method == "") {
				t.Errorf("scanStart = %+v %v, want ok %v method %q", sl, ok, tc.ok, tc.method)
			}
			if got := hasToTag([]byte(tc.in)); tc.ok && got != tc.toTag {
				t.Errorf("hasToTag = %v, want %v", got, tc.toTag)
			}
		})
	}
	long := "INVITE sip:" + strings.Repeat("a", maxStartLine) + " SIP/2.0\r\n\r\n"
	if _, ok := scanStart([]byte(long)); ok {
		t.Errorf("a start line over %d bytes accepted", maxStartLine)
	}
}

func TestQuoteCut(t *testing.T) {
	if got := quoteCut([]byte("a\x00\"é\n")); got != `a\x00\"\u00e9\n` {
		t.Errorf("quoteCut = %s", got)
	}
	bin := make([]byte, 65000)
	for i := range bin {
		bin[i] = byte(i)
	}
	got := quoteCut(bin)
	if len(got) > maxLogValue+20 || !strings.HasSuffix(got, "…(len=65000)") {
		t.Errorf("quoteCut of 65000 bytes: %d bytes: %s", len(got), got)
	}
	for _, c := range got {
		if c < ' ' || c == 0x7f {
			t.Fatalf("control byte %q in %q", c, got)
		}
	}
}

// FuzzScanStart holds the datagram scan to sipgo's parser: it never
// panics; a request it accepts and sipgo parses has the method it read;
// and a request sipgo finds a To tag in is one it sees claiming a dialog,
// so that a live dialog's request is never taken for an out-of-dialog one
// (and dropped as a stranger's).
func FuzzScanStart(f *testing.F) {
	for _, s := range []string{
		"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:b@c>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		"BYE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK2\r\nFrom: <sip:b@c>;tag=1\r\nt: \"x;tag=\" <sip:a@b>;tag=2\r\ni: y\r\nCSeq: 2 BYE\r\nl: 0\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK3\r\nCSeq: 1 INVITE\r\n\r\n",
		"INVITE sip:x SIP/2.0\r\nVia: \xff\xfe\r\n\r\n",
		"\x00\x01garbage",
	} {
		f.Add([]byte(s))
	}
	parser := sipgo_sip.NewParser()
	f.Fuzz(func(t *testing.T, b []byte) {
		sl, ok := scanStart(b)
		tag := hasToTag(b)
		if !ok || sl.response {
			return
		}
		for _, c := range sl.method {
			if !isToken(c) {
				t.Fatalf("method %q", sl.method)
			}
		}
		msg, err := parser.ParseSIP(b)
		if err != nil {
			return
		}
		req, isReq := msg.(*sipgo_sip.Request)
		if !isReq {
			t.Fatalf("scan read a request, sipgo a %T", msg)
		}
		if string(req.Method) != string(sl.method) {
			t.Fatalf("method %q, sipgo's %q", sl.method, req.Method)
		}
		if to := req.To(); to != nil {
			if _, has := to.Params.Get("tag"); has && !tag {
				t.Fatalf("sipgo finds a To tag that the scan misses in %q", b)
			}
		}
	})
}
