package media_test

import (
	"fmt"
	"net/netip"
	"strings"

	"denwa/media"
)

func ExampleOffer() {
	offer, err := media.Offer(media.OfferConfig{Addr: netip.MustParseAddr("192.0.2.10"), Port: 30000, SessionID: 5092817364})
	if err != nil {
		panic(err)
	}
	fmt.Print(strings.ReplaceAll(string(offer), "\r\n", "\n")) // CRLF on the wire

	answer := "v=0\r\no=- 1 1 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n" +
		"m=audio 18000 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\n"
	neg, err := media.ParseAnswer([]byte(answer), media.OfferConfig{})
	if err != nil {
		panic(err)
	}
	fmt.Println(neg.String())
	// Output:
	// v=0
	// o=denwa 5092817364 1 IN IP4 192.0.2.10
	// s=denwa
	// c=IN IP4 192.0.2.10
	// t=0 0
	// m=audio 30000 RTP/AVP 0 8 101
	// a=rtpmap:0 PCMU/8000
	// a=rtpmap:8 PCMA/8000
	// a=rtpmap:101 telephone-event/8000
	// a=fmtp:101 0-16
	// a=ptime:20
	// a=sendrecv
	// 203.0.113.5:18000 PCMA/8 te=96 sendrecv
}
