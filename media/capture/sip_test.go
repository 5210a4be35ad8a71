package capture

import (
	"strconv"
	"testing"
)

func TestSIPBody(t *testing.T) {
	sdp := "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n"
	cases := []struct {
		name, msg, want string
	}{
		{"INVITE", "INVITE sip:a@b SIP/2.0\r\nContent-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp, sdp},
		{"200 OK compact headers", "SIP/2.0 200 OK\r\nc: Application/SDP\r\nl: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp, sdp},
		{"Content-Length shorter", "SIP/2.0 183 Session Progress\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\n" + sdp, "v=0\r\n"},
		{"Content-Length longer is ignored", "SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\nContent-Length: 999\r\n\r\n" + sdp, sdp},
		{"LF only", "INVITE sip:a@b SIP/2.0\nContent-Type: application/sdp\n\n" + sdp, sdp},
		{"multipart", "INVITE sip:a@b SIP/2.0\r\nContent-Type: multipart/mixed;boundary=xx\r\n\r\n--xx\r\nContent-Type: application/sdp\r\n\r\n" + sdp + "--xx\r\nContent-Type: application/isup\r\n\r\nabc\r\n--xx--\r\n", sdp},
		{"no body type", "BYE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n", ""},
		{"other body", "INFO sip:a@b SIP/2.0\r\nContent-Type: application/dtmf-relay\r\n\r\nSignal=5\r\nDuration=160\r\n", ""},
		{"no blank line", "INVITE sip:a@b SIP/2.0\r\nContent-Type: application/sdp\r\n", ""},
	}
	for _, c := range cases {
		if got := string(SIPBody([]byte(c.msg))); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		if !LooksLikeSIP([]byte(c.msg)) {
			t.Errorf("%s: LooksLikeSIP false", c.name)
		}
	}
	for _, notSIP := range []string{"", "SIP", "HTTP/1.1 200 OK\r\n", "\x80\x00INVITE ", "invite sip:a@b SIP/2.0", "INVITED"} {
		if LooksLikeSIP([]byte(notSIP)) {
			t.Errorf("LooksLikeSIP(%q) = true", notSIP)
		}
	}
}
