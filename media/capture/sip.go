package capture

import (
	"bytes"
	"strconv"
	"strings"
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
	head, body, ok := bytes.Cut(msg, []byte("\r\n\r\n"))
	if !ok {
		if head, body, ok = bytes.Cut(msg, []byte("\n\n")); !ok {
			return nil
		}
	}
	var ctype string
	length := -1
	for _, line := range strings.Split(string(head), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-type", "c":
			ctype = strings.ToLower(value)
		case "content-length", "l":
			if n, err := strconv.Atoi(value); err == nil && n >= 0 {
				length = n
			}
		}
	}
	if length >= 0 && length <= len(body) {
		body = body[:length]
	}
	switch {
	case strings.HasPrefix(ctype, "application/sdp"):
		return body
	case strings.HasPrefix(ctype, "multipart/"):
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
