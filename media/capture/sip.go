package capture

import (
	"bytes"
	"strconv"
	"strings"

	"denwa/dtmf"
)

// sipMethods are the request methods a SIP message may start with
// (RFC 3261 and its extensions).
var sipMethods = []string{"INVITE ", "ACK ", "BYE ", "CANCEL ", "OPTIONS ", "REGISTER ", "PRACK ",
	"UPDATE ", "INFO ", "SUBSCRIBE ", "NOTIFY ", "REFER ", "MESSAGE ", "PUBLISH "}

// LooksLikeSIP reports whether a UDP payload starts like a SIP request or
// response.
func LooksLikeSIP(p []byte) bool {
	if bytes.HasPrefix(p, []byte("SIP/2.0 ")) {
		return true
	}
	if len(p) < 4 || p[0] < 'A' || p[0] > 'Z' {
		return false
	}
	for _, m := range sipMethods {
		if bytes.HasPrefix(p, []byte(m)) {
			return true
		}
	}
	return false
}

// SIPBody returns the SDP body of a SIP message: the body after the blank
// line when Content-Type (or its compact form c:) is application/sdp, cut
// to Content-Length (l:) when that is given and fits; in a multipart body,
// the part that starts at "v=0". It returns nil when there is none.
func SIPBody(msg []byte) []byte {
	m, ok := readSIP(msg)
	if !ok {
		return nil
	}
	body := m.body
	switch {
	case strings.HasPrefix(m.ctype, "application/sdp"):
		return body
	case strings.HasPrefix(m.ctype, "multipart/"):
		i := bytes.Index(body, []byte("v=0"))
		if i < 0 {
			return nil
		}
		part := body[i:]
		if j := bytes.Index(part, []byte("\n--")); j >= 0 {
			part = part[:j+1]
		}
		return part
	}
	return nil
}

// ParseInfoKey reads a SIP INFO request that carries a key (RFC 6086
// without Info-Package; see dtmf.ParseInfo for the application/dtmf-relay
// and application/dtmf bodies). It returns the key and the request's
// Call-ID and CSeq, which its retransmissions repeat. ok is false for any other message, an INFO with
// another body included, and for a body that holds no key (flash).
func ParseInfoKey(msg []byte) (k dtmf.InfoKey, callID, cseq string, ok bool) {
	if !bytes.HasPrefix(msg, []byte("INFO ")) {
		return dtmf.InfoKey{}, "", "", false
	}
	m, ok := readSIP(msg)
	if !ok {
		return dtmf.InfoKey{}, "", "", false
	}
	f := dtmf.InfoFormatOf(m.ctype)
	if f == dtmf.InfoUnknown {
		return dtmf.InfoKey{}, "", "", false
	}
	k, err := dtmf.ParseInfo(f, m.body)
	if err != nil {
		return dtmf.InfoKey{}, "", "", false
	}
	return k, m.callID, m.cseq, true
}

// sipParts is what readSIP takes from a SIP message.
type sipParts struct {
	ctype, callID, cseq string // Content-Type in lower case
	body                []byte // cut to Content-Length when that fits
}

// readSIP splits a SIP message into its headers, of which it keeps a
// few, and its body. It reports false without a blank line after the
// headers.
func readSIP(msg []byte) (sipParts, bool) {
	var m sipParts
	head, body, ok := bytes.Cut(msg, []byte("\r\n\r\n"))
	if !ok {
		if head, body, ok = bytes.Cut(msg, []byte("\n\n")); !ok {
			return m, false
		}
	}
	length := -1
	for _, line := range strings.Split(string(head), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-type", "c":
			m.ctype = strings.ToLower(value)
		case "content-length", "l":
			if n, err := strconv.Atoi(value); err == nil && n >= 0 {
				length = n
			}
		case "call-id", "i":
			m.callID = value
		case "cseq":
			m.cseq = value
		}
	}
	if length >= 0 && length <= len(body) {
		body = body[:length]
	}
	m.body = body
	return m, true
}
