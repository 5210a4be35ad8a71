package media

import (
	"net/netip"
	"strings"
	"testing"
)

func crlf(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

func pt(kinds map[uint8]PayloadKind) PayloadTypes {
	var p PayloadTypes
	for k, v := range kinds {
		p[k] = v
	}
	return p
}

func TestParseSDPAudio(t *testing.T) {
	cases := []struct {
		name string
		body []byte
		want []SDPAudio
	}{
		{"offer with rtpmaps", crlf("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
			"m=audio 40000 RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv"),
			[]SDPAudio{{netip.MustParseAddrPort("192.0.2.10:40000"), pt(map[uint8]PayloadKind{0: KindPCMU, 8: KindPCMA, 101: KindTelephoneEvent})}}},
		{"static PTs without rtpmap, event on 96, lower case", crlf("v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "c=IN IP4 10.0.0.5", "t=0 0",
			"m=audio 7078 RTP/AVP 8 0 96", "a=rtpmap:96 Telephone-Event/8000"),
			[]SDPAudio{{netip.MustParseAddrPort("10.0.0.5:7078"), pt(map[uint8]PayloadKind{0: KindPCMU, 8: KindPCMA, 96: KindTelephoneEvent})}}},
		{"IPv6, media-level c= wins", crlf("v=0", "o=- 1 1 IN IP6 2001:db8::1", "s=-", "c=IN IP6 2001:db8::1", "t=0 0",
			"m=audio 5004 RTP/AVP 0 100", "c=IN IP6 2001:db8::b", "a=rtpmap:100 telephone-event/8000"),
			[]SDPAudio{{netip.MustParseAddrPort("[2001:db8::b]:5004"), pt(map[uint8]PayloadKind{0: KindPCMU, 100: KindTelephoneEvent})}}},
		{"wideband event and other codecs are unknown", crlf("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
			"m=audio 4000 RTP/AVP 9 0 101 102", "a=rtpmap:9 G722/8000", "a=rtpmap:101 telephone-event/16000", "a=rtpmap:102 telephone-event/8000"),
			[]SDPAudio{{netip.MustParseAddrPort("192.0.2.1:4000"), pt(map[uint8]PayloadKind{0: KindPCMU, 102: KindTelephoneEvent})}}},
		{"video, disabled audio and a second audio line", crlf("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
			"m=video 6000 RTP/AVP 96", "a=rtpmap:96 H264/90000", "m=audio 0 RTP/AVP 0", "m=audio 4002 RTP/AVP 8"),
			[]SDPAudio{{netip.MustParseAddrPort("192.0.2.1:4002"), pt(map[uint8]PayloadKind{8: KindPCMA})}}},
		// Bodies pion/sdp refuses are read line by line.
		{"no s= and t= lines, LF endings", []byte("v=0\nc=IN IP4 192.0.2.7\nm=audio 4100 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n"),
			[]SDPAudio{{netip.MustParseAddrPort("192.0.2.7:4100"), pt(map[uint8]PayloadKind{0: KindPCMU, 101: KindTelephoneEvent})}}},
		{"attribute before m=, junk lines", crlf("v=0", "a=recvonly", "o=- 1 1 IN IP4 192.0.2.8", "x=what", "c=IN IP4 192.0.2.8/127", "t=0 0", "s=-",
			"m=audio 4200/2 RTP/AVP 8 96", "a=rtpmap:96 telephone-event/8000"),
			[]SDPAudio{{netip.MustParseAddrPort("192.0.2.8:4200"), pt(map[uint8]PayloadKind{8: KindPCMA, 96: KindTelephoneEvent})}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseSDPAudio(c.body)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d lines: %+v", len(got), got)
			}
			for i := range got {
				if got[i].Addr != c.want[i].Addr || got[i].PayloadTypes != c.want[i].PayloadTypes {
					t.Errorf("line %d: %v %s, want %v %s", i, got[i].Addr, got[i].PayloadTypes.String(), c.want[i].Addr, c.want[i].PayloadTypes.String())
				}
			}
		})
	}
	for _, bad := range []string{"", "hello", "v=0\r\nm=audio x RTP/AVP 0\r\n", "v=0\r\nm=audio 4000 RTP/AVP 0\r\n" /* no c= */} {
		if got, err := ParseSDPAudio([]byte(bad)); err == nil {
			t.Errorf("ParseSDPAudio(%q) = %v, want an error", bad, got)
		}
	}
}
