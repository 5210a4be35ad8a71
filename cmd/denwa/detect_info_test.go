package main

import (
	"path/filepath"
	"testing"
)

// TestDetectSIPInfo: a capture whose phone sends keys as SIP INFO
// (media/capture/testdata/sip-info.pcap, see its README): the INFO keys
// are listed as their own stream, each request once, at its capture time.
func TestDetectSIPInfo(t *testing.T) {
	f := filepath.Join("..", "..", "media", "capture", "testdata", "sip-info.pcap")
	stdout, stderr, code := runCLI(t, "detect", f)
	want := "0.400 # rfc4733 ssrc=0x00005150/192.0.2.10:40000->192.0.2.20:30000\n" +
		"0.405 # sip-info sip/192.0.2.10:5060->192.0.2.20:5060\n" +
		"0.900 5 sip-info sip/192.0.2.10:5060->192.0.2.20:5060\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Fatalf("exit %d\ngot:\n%s\nwant:\n%s\nstderr: %s", code, stdout, want, stderr)
	}
	stdout, _, code = runCLI(t, "detect", "--format", "digits", f)
	if code != 0 || stdout != "#\n#5\n" {
		t.Fatalf("digits: exit %d, %q", code, stdout)
	}
	stdout, _, code = runCLI(t, "detect", "--format", "json", "--stream", "sip/192.0.2.10:5060->192.0.2.20:5060", f)
	want = `{"file":"` + f + `","seconds":0.405,"key":"#","source":"sip-info","stream":"sip/192.0.2.10:5060-\u003e192.0.2.20:5060","src":"192.0.2.10:5060","dst":"192.0.2.20:5060","duration_ms":100}` + "\n" +
		`{"file":"` + f + `","seconds":0.9,"key":"5","source":"sip-info","stream":"sip/192.0.2.10:5060-\u003e192.0.2.20:5060","src":"192.0.2.10:5060","dst":"192.0.2.20:5060","duration_ms":0}` + "\n"
	if code != 0 || stdout != want {
		t.Fatalf("json: exit %d\ngot:\n%s\nwant:\n%s", code, stdout, want)
	}
}
