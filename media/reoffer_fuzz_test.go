package media

import (
	"bytes"
	"net/netip"
	"testing"

	"denwa/media/mediatest"
)

// reofferSeeds are in-dialog offers as they come in the field: a refresh,
// holds of both styles, a move, a codec change, extra lines.
func reofferSeeds() map[string][]byte {
	return map[string][]byte{
		"refresh":      theirSDP("1", "192.0.2.7", "4000", "0 96", "a=sendrecv"),
		"sendonly":     theirSDP("2", "192.0.2.7", "4000", "0 8 96", "a=sendonly"),
		"inactive":     theirSDP("2", "192.0.2.7", "4000", "0 96", "a=inactive"),
		"rfc2543-hold": theirSDP("2", "0.0.0.0", "4000", "0 96"),
		"moved-ipv6": []byte("v=0\r\no=- 77 3 IN IP6 2001:db8::7\r\ns=-\r\nc=IN IP6 2001:db8::7\r\nt=0 0\r\n" +
			"m=video 6000 RTP/AVP 31\r\nm=audio 5004 RTP/AVP 8 100\r\na=rtpmap:100 telephone-event/8000\r\na=recvonly\r\n"),
		"no-codec":   theirSDP("2", "192.0.2.7", "4000", "18", "a=rtpmap:18 G729/8000"),
		"lines-only": []byte("c=IN IP4 192.0.2.9\nm=audio 4100/2 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\na=sendonly\n"),
		"port-zero":  theirSDP("2", "192.0.2.7", "0", "0"),
	}
}

// FuzzAnswerReoffer answers arbitrary in-dialog offers: it must not panic;
// an answer must keep our address, port and session, say what it
// negotiated, and be answered unchanged when offered again.
func FuzzAnswerReoffer(f *testing.F) {
	for _, s := range reofferSeeds() {
		f.Add(s)
	}
	cfg := reofferFixture(f)
	f.Fuzz(func(t *testing.T, offer []byte) {
		r, err := AnswerReoffer(offer, cfg)
		if err != nil {
			return
		}
		ours, err := ParseSDPAudio(r.Body)
		if err != nil || ours[0].Addr != netip.MustParseAddrPort("192.0.2.10:30000") {
			t.Fatalf("answer's address %v (%v)\n%s", ours, err, r.Body)
		}
		m := r.Media
		if (m.Codec != KindPCMU && m.Codec != KindPCMA) || m.Receive[m.PayloadType] != m.Codec ||
			(m.EventPT != 0 && m.Receive[m.EventPT] != KindTelephoneEvent) || !m.Remote.IsValid() || m.Remote.Addr().IsUnspecified() {
			t.Fatalf("negotiated %s\n%s", m.String(), r.Body)
		}
		switch m.Direction {
		case SendRecv, SendOnly, RecvOnly, Inactive:
		default:
			t.Fatalf("direction %q", m.Direction)
		}
		again := cfg
		again.Local, again.Current = r.Body, m
		r2, err := AnswerReoffer(offer, again)
		if err != nil || r2.Changed || !bytes.Equal(r2.Body, r.Body) {
			t.Fatalf("offered again: changed %v, err %v\n%s\n%s", r2.Changed, err, r.Body, r2.Body)
		}
	})
}

func TestWriteReofferFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	mediatest.WriteFuzzCorpus(t, "FuzzAnswerReoffer", reofferSeeds())
}
