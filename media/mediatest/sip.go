package mediatest

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// SIPPort is the SIP port SIPDialog uses for the caller, and for the callee
// when it is not on the caller's address (it then takes SIPPort+2).
const SIPPort = 5060

// SIPDialog returns the INVITE (at at) and the 200 OK (10 ms later) of the
// call that sets up stream s: the caller is s's sender and offers
// "m=audio <Src port> RTP/AVP 0 8 <EventPT>", the callee answers with
// "m=audio <Dst port> RTP/AVP <AudioPT> <EventPT>", both with rtpmap lines,
// "a=fmtp:<EventPT> 0-16" and "a=ptime". A capture reader can learn the
// stream's payload types from them.
func SIPDialog(s Stream, callID string, at time.Duration) []Packet {
	caller := netip.AddrPortFrom(s.Src.Addr(), SIPPort)
	callee := netip.AddrPortFrom(s.Dst.Addr(), SIPPort)
	if caller.Addr() == callee.Addr() {
		callee = netip.AddrPortFrom(callee.Addr(), SIPPort+2)
	}
	ev := s.eventPT()
	ms := s.ptime().Milliseconds()
	offer := sdp(s.Src, "denwa-caller", fmt.Sprintf("0 8 %d", ev),
		"a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
		fmt.Sprintf("a=rtpmap:%d telephone-event/8000", ev), fmt.Sprintf("a=fmtp:%d 0-16", ev),
		fmt.Sprintf("a=ptime:%d", ms), "a=sendrecv")
	name := "PCMU"
	if s.AudioPT == PCMA {
		name = "PCMA"
	}
	answer := sdp(s.Dst, "denwa-callee", fmt.Sprintf("%d %d", s.AudioPT, ev),
		fmt.Sprintf("a=rtpmap:%d %s/8000", s.AudioPT, name),
		fmt.Sprintf("a=rtpmap:%d telephone-event/8000", ev), fmt.Sprintf("a=fmtp:%d 0-16", ev),
		fmt.Sprintf("a=ptime:%d", ms), "a=sendrecv")

	ruri := "sip:1000@" + hostPort(callee)
	via := fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s", hostPort(caller), callID)
	from := fmt.Sprintf("From: <sip:denwa@%s>;tag=%s-a", hostPort(caller), callID)
	to := fmt.Sprintf("To: <%s>", ruri)
	invite := sipMessage([]string{
		"INVITE " + ruri + " SIP/2.0", via, "Max-Forwards: 70", from, to,
		"Call-ID: " + callID, "CSeq: 1 INVITE", fmt.Sprintf("Contact: <sip:denwa@%s>", hostPort(caller)),
		"Content-Type: application/sdp",
	}, offer)
	ok := sipMessage([]string{
		"SIP/2.0 200 OK", via, from, to + ";tag=" + callID + "-b",
		"Call-ID: " + callID, "CSeq: 1 INVITE", fmt.Sprintf("Contact: <sip:1000@%s>", hostPort(callee)),
		"Content-Type: application/sdp",
	}, answer)
	return []Packet{
		{At: at, Src: caller, Dst: callee, Payload: invite},
		{At: at + 10*time.Millisecond, Src: callee, Dst: caller, Payload: ok},
	}
}

func hostPort(ap netip.AddrPort) string { return ap.String() }

func ipVer(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "IP4"
	}
	return "IP6"
}

func sdp(media netip.AddrPort, user, fmts string, attrs ...string) string {
	a := media.Addr().Unmap()
	lines := []string{
		"v=0",
		fmt.Sprintf("o=%s 1 1 IN %s %s", user, ipVer(a), a),
		"s=-",
		fmt.Sprintf("c=IN %s %s", ipVer(a), a),
		"t=0 0",
		fmt.Sprintf("m=audio %d RTP/AVP %s", media.Port(), fmts),
	}
	return strings.Join(append(lines, attrs...), "\r\n") + "\r\n"
}

func sipMessage(headers []string, body string) []byte {
	headers = append(headers, fmt.Sprintf("Content-Length: %d", len(body)))
	return []byte(strings.Join(headers, "\r\n") + "\r\n\r\n" + body)
}
