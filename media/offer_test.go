package media

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func sdpLines(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

func ptMap(kinds map[uint8]PayloadKind) PayloadTypes {
	var p PayloadTypes
	for k, v := range kinds {
		p[k] = v
	}
	return p
}

var offerAddr = netip.MustParseAddr("192.0.2.10")

func TestOffer(t *testing.T) {
	cases := []struct {
		name string
		cfg  OfferConfig
		want string
	}{
		{"default", OfferConfig{Addr: offerAddr, Port: 30000, SessionID: 42},
			"v=0\r\no=denwa 42 1 IN IP4 192.0.2.10\r\ns=denwa\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
				"m=audio 30000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
				"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"},
		{"PCMA only, event 96, version 7", OfferConfig{Addr: offerAddr, Port: 30002, Codecs: []PayloadKind{KindPCMA}, EventPT: 96, SessionID: 9, SessionVersion: 7, Username: "ivr"},
			"v=0\r\no=ivr 9 7 IN IP4 192.0.2.10\r\ns=denwa\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
				"m=audio 30002 RTP/AVP 8 96\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\n" +
				"a=fmtp:96 0-16\r\na=ptime:20\r\na=sendrecv\r\n"},
		{"PCMA first, no events, IPv6", OfferConfig{Addr: netip.MustParseAddr("2001:db8::7"), Port: 30004, Codecs: []PayloadKind{KindPCMA, KindPCMU}, NoEvents: true, SessionID: 1},
			"v=0\r\no=denwa 1 1 IN IP6 2001:db8::7\r\ns=denwa\r\nc=IN IP6 2001:db8::7\r\nt=0 0\r\n" +
				"m=audio 30004 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Offer(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("offer:\n%s\nwant:\n%s", got, c.want)
			}
			// Our own parser reads it back as offered.
			ms, err := readMedia(got)
			if err != nil || len(ms) != 1 {
				t.Fatalf("readMedia: %v, %d lines", err, len(ms))
			}
			if ms[0].port != int(c.cfg.Port) || ms[0].addr != c.cfg.Addr || ms[0].ptime != 20*time.Millisecond || ms[0].dir != SendRecv {
				t.Errorf("read back %+v", ms[0])
			}
		})
	}
}

func TestOfferRandomSessionID(t *testing.T) {
	a, err := Offer(OfferConfig{Addr: offerAddr, Port: 30000})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Offer(OfferConfig{Addr: offerAddr, Port: 30000})
	if string(a) == string(b) {
		t.Errorf("two offers with random session IDs are equal:\n%s", a)
	}
}

func TestOfferInvalid(t *testing.T) {
	for name, cfg := range map[string]OfferConfig{
		"no address":          {Port: 30000},
		"unspecified address": {Addr: netip.IPv4Unspecified(), Port: 30000},
		"no port":             {Addr: offerAddr},
		"codec":               {Addr: offerAddr, Port: 30000, Codecs: []PayloadKind{KindTelephoneEvent}},
		"codec twice":         {Addr: offerAddr, Port: 30000, Codecs: []PayloadKind{KindPCMU, KindPCMU}},
		"static event PT":     {Addr: offerAddr, Port: 30000, EventPT: 13},
	} {
		if _, err := Offer(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}

func TestParseAnswer(t *testing.T) {
	def := OfferConfig{Addr: offerAddr, Port: 30000}
	ours := ptMap(map[uint8]PayloadKind{0: KindPCMU, 8: KindPCMA, 101: KindTelephoneEvent})
	cases := []struct {
		name    string
		offered OfferConfig
		body    []byte
		want    Answer
	}{
		{"Asterisk-like, CRLF, rtpmaps", def,
			sdpLines("v=0", "o=root 1 1 IN IP4 203.0.113.5", "s=Asterisk", "c=IN IP4 203.0.113.5", "t=0 0",
				"m=audio 18000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=maxptime:150", "a=sendrecv"),
			Answer{Remote: netip.MustParseAddrPort("203.0.113.5:18000"), Codec: KindPCMU, PayloadType: 0, EventPT: 101, Receive: ours, Direction: SendRecv, Ptime: 20 * time.Millisecond}},
		{"PCMA first, static PTs without rtpmap, LF endings", def,
			[]byte("v=0\no=- 5 5 IN IP4 198.51.100.2\ns=-\nc=IN IP4 198.51.100.2\nt=0 0\nm=audio 7078 RTP/AVP 8 0\n"),
			Answer{Remote: netip.MustParseAddrPort("198.51.100.2:7078"), Codec: KindPCMA, PayloadType: 8, Receive: ptMap(map[uint8]PayloadKind{0: KindPCMU, 8: KindPCMA, 101: KindTelephoneEvent}), Direction: SendRecv}},
		{"telephone-event on 96, upper-case names, media-level c=", def,
			sdpLines("v=0", "o=- 5 5 IN IP4 198.51.100.2", "s=-", "c=IN IP4 0.0.0.0", "t=0 0",
				"m=audio 4000 RTP/AVP 8 96", "c=IN IP4 198.51.100.9", "a=rtpmap:8 PCMA/8000", "a=rtpmap:96 TELEPHONE-EVENT/8000", "a=fmtp:96 0-15", "a=recvonly"),
			Answer{Remote: netip.MustParseAddrPort("198.51.100.9:4000"), Codec: KindPCMA, PayloadType: 8, EventPT: 96,
				Receive: ptMap(map[uint8]PayloadKind{0: KindPCMU, 8: KindPCMA, 96: KindTelephoneEvent, 101: KindTelephoneEvent}), Direction: RecvOnly}},
		{"event PT 100, IPv6, session-level c= and direction", def,
			sdpLines("v=0", "o=- 1 2 IN IP6 2001:db8::5", "s=-", "c=IN IP6 2001:db8::5", "t=0 0", "a=sendonly",
				"m=audio 5004 RTP/AVP 0 100", "a=rtpmap:100 telephone-event/8000"),
			Answer{Remote: netip.MustParseAddrPort("[2001:db8::5]:5004"), Codec: KindPCMU, PayloadType: 0, EventPT: 100,
				Receive: ptMap(map[uint8]PayloadKind{0: KindPCMU, 8: KindPCMA, 100: KindTelephoneEvent, 101: KindTelephoneEvent}), Direction: SendOnly}},
		{"no telephone-event: in-band only", def,
			sdpLines("v=0", "o=- 1 2 IN IP4 192.0.2.50", "s=-", "c=IN IP4 192.0.2.50", "t=0 0", "m=audio 5004 RTP/AVP 0"),
			Answer{Remote: netip.MustParseAddrPort("192.0.2.50:5004"), Codec: KindPCMU, Receive: ours, Direction: SendRecv}},
		{"our event PT echoed without rtpmap", def,
			sdpLines("v=0", "o=- 1 2 IN IP4 192.0.2.50", "s=-", "c=IN IP4 192.0.2.50", "t=0 0", "m=audio 5004 RTP/AVP 0 101"),
			Answer{Remote: netip.MustParseAddrPort("192.0.2.50:5004"), Codec: KindPCMU, EventPT: 101, Receive: ours, Direction: SendRecv}},
		{"codecs we did not offer are skipped, PCMU on a dynamic PT", def,
			sdpLines("v=0", "o=- 1 2 IN IP4 192.0.2.50", "s=-", "c=IN IP4 192.0.2.50", "t=0 0",
				"m=audio 5004 RTP/AVP 9 18 97 101", "a=rtpmap:9 G722/8000", "a=rtpmap:18 G729/8000", "a=rtpmap:97 pcmu/8000", "a=rtpmap:101 telephone-event/8000"),
			Answer{Remote: netip.MustParseAddrPort("192.0.2.50:5004"), Codec: KindPCMU, PayloadType: 97, EventPT: 101,
				Receive: ptMap(map[uint8]PayloadKind{0: KindPCMU, 8: KindPCMA, 97: KindPCMU, 101: KindTelephoneEvent}), Direction: SendRecv}},
		{"we offered PCMA only: PCMU skipped", OfferConfig{Addr: offerAddr, Port: 30000, Codecs: []PayloadKind{KindPCMA}},
			sdpLines("v=0", "o=- 1 2 IN IP4 192.0.2.50", "s=-", "c=IN IP4 192.0.2.50", "t=0 0", "m=audio 5004 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000"),
			Answer{Remote: netip.MustParseAddrPort("192.0.2.50:5004"), Codec: KindPCMA, PayloadType: 8, EventPT: 101,
				Receive: ptMap(map[uint8]PayloadKind{0: KindPCMU, 8: KindPCMA, 101: KindTelephoneEvent}), Direction: SendRecv}},
		{"we offered no events: theirs ignored", OfferConfig{Addr: offerAddr, Port: 30000, NoEvents: true},
			sdpLines("v=0", "o=- 1 2 IN IP4 192.0.2.50", "s=-", "c=IN IP4 192.0.2.50", "t=0 0", "m=audio 5004 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000"),
			Answer{Remote: netip.MustParseAddrPort("192.0.2.50:5004"), Codec: KindPCMU, Receive: ptMap(map[uint8]PayloadKind{0: KindPCMU, 8: KindPCMA}), Direction: SendRecv}},
		{"pion refuses (no s=, t=): read line by line", def,
			[]byte("v=0\r\nc=IN IP4 192.0.2.60\r\nm=audio 4100 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"),
			Answer{Remote: netip.MustParseAddrPort("192.0.2.60:4100"), Codec: KindPCMA, PayloadType: 8, EventPT: 101, Receive: ours, Direction: SendRecv}},
		{"first audio line rejected, second used", def,
			sdpLines("v=0", "o=- 1 2 IN IP4 192.0.2.50", "s=-", "c=IN IP4 192.0.2.50", "t=0 0", "m=audio 0 RTP/AVP 0", "m=audio 5006 RTP/AVP 0"),
			Answer{Remote: netip.MustParseAddrPort("192.0.2.50:5006"), Codec: KindPCMU, Receive: ours, Direction: SendRecv}},
		{"video line first", def,
			sdpLines("v=0", "o=- 1 2 IN IP4 192.0.2.50", "s=-", "c=IN IP4 192.0.2.50", "t=0 0", "m=video 0 RTP/AVP 96", "m=audio 5004 RTP/AVP 8"),
			Answer{Remote: netip.MustParseAddrPort("192.0.2.50:5004"), Codec: KindPCMA, PayloadType: 8, Receive: ours, Direction: SendRecv}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseAnswer(c.body, c.offered)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got  %s receive %s\nwant %s receive %s", got.String(), got.Receive.String(), c.want.String(), c.want.Receive.String())
			}
		})
	}
}

func TestParseAnswerErrors(t *testing.T) {
	def := OfferConfig{Addr: offerAddr, Port: 30000}
	cases := []struct {
		name string
		body []byte
		want error
	}{
		{"port 0", sdpLines("v=0", "o=- 1 2 IN IP4 192.0.2.50", "s=-", "c=IN IP4 192.0.2.50", "t=0 0", "m=audio 0 RTP/AVP 0"), ErrMediaRejected},
		{"no common codec", sdpLines("v=0", "o=- 1 2 IN IP4 192.0.2.50", "s=-", "c=IN IP4 192.0.2.50", "t=0 0", "m=audio 5004 RTP/AVP 9 18 101",
			"a=rtpmap:101 telephone-event/8000"), ErrNoCommonCodec},
		{"PCMU at 16 kHz is not ours", sdpLines("v=0", "o=- 1 2 IN IP4 192.0.2.50", "s=-", "c=IN IP4 192.0.2.50", "t=0 0", "m=audio 5004 RTP/AVP 97",
			"a=rtpmap:97 PCMU/16000"), ErrNoCommonCodec},
		{"no audio", sdpLines("v=0", "o=- 1 2 IN IP4 192.0.2.50", "s=-", "c=IN IP4 192.0.2.50", "t=0 0", "m=video 5004 RTP/AVP 96"), ErrSDP},
		{"no address", sdpLines("v=0", "o=- 1 2 IN IP4 192.0.2.50", "s=-", "t=0 0", "m=audio 5004 RTP/AVP 0"), ErrSDP},
		{"empty", nil, ErrSDP},
		{"not SDP", []byte("hello\r\n"), ErrSDP},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, err := ParseAnswer(c.body, def); !errors.Is(err, c.want) {
				t.Errorf("ParseAnswer = %v, %v; want %v", got.String(), err, c.want)
			}
		})
	}
}

func TestAnswerOffer(t *testing.T) {
	me := AnswerConfig{Addr: netip.MustParseAddr("192.0.2.99"), Port: 40000, SessionID: 77}
	offer, err := Offer(OfferConfig{Addr: offerAddr, Port: 30000, SessionID: 1})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		offer     []byte
		cfg       AnswerConfig
		want      Answer
		wantMedia string // the answer's m= section
	}{
		{"our own offer", offer, me,
			Answer{Remote: netip.MustParseAddrPort("192.0.2.10:30000"), Codec: KindPCMU, EventPT: 101,
				Receive: ptMap(map[uint8]PayloadKind{0: KindPCMU, 8: KindPCMA, 101: KindTelephoneEvent}), Direction: SendRecv, Ptime: 20 * time.Millisecond},
			"m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"},
		{"PCMA only, event answered on 96", offer, AnswerConfig{Addr: me.Addr, Port: 40000, Codecs: []PayloadKind{KindPCMA}, EventPT: 96},
			Answer{Remote: netip.MustParseAddrPort("192.0.2.10:30000"), Codec: KindPCMA, PayloadType: 8, EventPT: 96,
				Receive: ptMap(map[uint8]PayloadKind{0: KindPCMU, 8: KindPCMA, 96: KindTelephoneEvent, 101: KindTelephoneEvent}), Direction: SendRecv, Ptime: 20 * time.Millisecond},
			"m=audio 40000 RTP/AVP 8 96\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\na=ptime:20\r\na=sendrecv\r\n"},
		{"in-band only", offer, AnswerConfig{Addr: me.Addr, Port: 40000, NoEvents: true},
			Answer{Remote: netip.MustParseAddrPort("192.0.2.10:30000"), Codec: KindPCMU,
				Receive: ptMap(map[uint8]PayloadKind{0: KindPCMU, 8: KindPCMA}), Direction: SendRecv, Ptime: 20 * time.Millisecond},
			"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"},
		{"telephone-event on a static PT is not one", sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0",
			"m=audio 6002 RTP/AVP 0 1", "a=rtpmap:1 telephone-event/8000"), me,
			Answer{Remote: netip.MustParseAddrPort("192.0.2.5:6002"), Codec: KindPCMU,
				Receive: ptMap(map[uint8]PayloadKind{0: KindPCMU}), Direction: SendRecv},
			"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"},
		{"video rejected, sendonly answered recvonly", sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0",
			"m=video 6000 RTP/AVP 96", "a=rtpmap:96 H264/90000", "m=audio 6002 RTP/AVP 8 0 100", "a=rtpmap:100 telephone-event/8000", "a=sendonly"), me,
			Answer{Remote: netip.MustParseAddrPort("192.0.2.5:6002"), Codec: KindPCMA, PayloadType: 8, EventPT: 100,
				Receive: ptMap(map[uint8]PayloadKind{0: KindPCMU, 8: KindPCMA, 100: KindTelephoneEvent}), Direction: RecvOnly},
			"m=video 0 RTP/AVP 96\r\nm=audio 40000 RTP/AVP 8 100\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:100 telephone-event/8000\r\na=fmtp:100 0-16\r\na=ptime:20\r\na=recvonly\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, got, err := AnswerOffer(c.offer, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got  %s receive %s\nwant %s receive %s", got.String(), got.Receive.String(), c.want.String(), c.want.Receive.String())
			}
			_, media, _ := strings.Cut(string(body), "t=0 0\r\n")
			if media != c.wantMedia {
				t.Errorf("answer media:\n%s\nwant:\n%s\nwhole answer:\n%s", media, c.wantMedia, body)
			}
			// The offerer reads the answer back.
			if c.name == "our own offer" || c.name == "PCMA only, event answered on 96" {
				back, err := ParseAnswer(body, OfferConfig{Addr: offerAddr, Port: 30000})
				if err != nil {
					t.Fatal(err)
				}
				if back.Remote != netip.AddrPortFrom(c.cfg.Addr, c.cfg.Port) || back.Codec != got.Codec || back.EventPT != got.EventPT {
					t.Errorf("offerer reads %s", back.String())
				}
			}
		})
	}
	bad := []struct {
		name  string
		offer []byte
		want  error
	}{
		{"no common codec", sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0", "m=audio 6002 RTP/AVP 9 18"), ErrNoCommonCodec},
		{"audio port 0", sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0", "m=audio 0 RTP/AVP 0"), ErrMediaRejected},
		{"SRTP only", sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.5", "s=-", "c=IN IP4 192.0.2.5", "t=0 0", "m=audio 6002 RTP/SAVP 0"), ErrMediaRejected},
		{"garbage", []byte("nonsense"), ErrSDP},
	}
	for _, c := range bad {
		if _, _, err := AnswerOffer(c.offer, me); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

// FuzzSDPOfferAnswer feeds untrusted SDP to both parsers: neither may
// panic, and an answer AnswerOffer writes must read back with ParseAnswer
// to the same codec and telephone-event.
func FuzzSDPOfferAnswer(f *testing.F) {
	offer, _ := Offer(OfferConfig{Addr: offerAddr, Port: 30000, SessionID: 1})
	f.Add(offer)
	f.Add(sdpLines("v=0", "o=- 1 2 IN IP6 2001:db8::5", "s=-", "c=IN IP6 2001:db8::5", "t=0 0", "a=sendonly",
		"m=video 0 RTP/AVP 96", "m=audio 5004 RTP/AVP 97 8 100", "a=rtpmap:97 PCMU/8000", "a=rtpmap:100 telephone-event/8000"))
	f.Add([]byte("v=0\nc=IN IP4 192.0.2.60\nm=audio 4100/2 RTP/AVP 8 101\na=rtpmap:101 telephone-event/8000\n"))
	f.Add([]byte("m=audio 0 RTP/AVP\r\n"))
	me := AnswerConfig{Addr: netip.MustParseAddr("192.0.2.99"), Port: 40000, SessionID: 5}
	f.Fuzz(func(t *testing.T, body []byte) {
		ParseAnswer(body, OfferConfig{})
		ans, neg, err := AnswerOffer(body, me)
		if err != nil {
			return
		}
		back, err := ParseAnswer(ans, OfferConfig{EventPT: neg.EventPT, NoEvents: neg.EventPT == 0})
		if err != nil {
			t.Fatalf("our answer does not parse: %v\n%s", err, ans)
		}
		if back.Codec != neg.Codec || back.PayloadType != neg.PayloadType || back.EventPT != neg.EventPT ||
			back.Remote != netip.AddrPortFrom(me.Addr, me.Port) {
			t.Fatalf("answer reads back as %s, negotiated %s\n%s", back.String(), neg.String(), ans)
		}
	})
}
