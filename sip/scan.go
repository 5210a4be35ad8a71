package sip

import "bytes"

// A datagram is looked at before sipgo parses it (guard.filter): enough
// to tell a response from a request, name the request's method and see
// whether it claims a dialog (a To tag), without allocating. What this
// scan accepts may still fail sipgo's parser; what it refuses sipgo would
// refuse as well (FuzzScanStart checks both directions of that).
//
//	Request-Line = Method SP Request-URI SP SIP-Version CRLF  (RFC 3261 §7.1)
//	Status-Line  = SIP-Version SP Status-Code SP Reason-Phrase CRLF

// startLine is what scanStart found on a message's first line.
type startLine struct {
	response bool
	method   []byte // aliases the datagram; nil for a response
}

// maxStartLine bounds the first line a scan reads: sipgo's buffer for a
// datagram is 32 KiB, and a Request-URI longer than this is no call.
const maxStartLine = 2048

var sipVersion = []byte("SIP/2.0")

// scanStart reads the first line of b. ok is false when it is no SIP start
// line: garbage, a truncated datagram, a binary protocol sent to the port.
func scanStart(b []byte) (sl startLine, ok bool) {
	end := bytes.IndexByte(b[:min(len(b), maxStartLine)], '\n')
	if end <= 0 || b[end-1] != '\r' {
		return sl, false
	}
	line := b[:end-1]
	if rest, found := bytes.CutPrefix(line, sipVersion); found {
		// SIP/2.0 SP 3DIGIT SP reason
		if len(rest) < 4 || rest[0] != ' ' || !isDigit(rest[1]) || !isDigit(rest[2]) || !isDigit(rest[3]) {
			return sl, false
		}
		return startLine{response: true}, true
	}
	method, rest, found := bytes.Cut(line, []byte{' '})
	if !found || len(method) == 0 || len(method) > 32 {
		return sl, false
	}
	for _, c := range method {
		if !isToken(c) {
			return sl, false
		}
	}
	uri, version, found := bytes.Cut(rest, []byte{' '})
	if !found || len(uri) == 0 || !bytes.Equal(version, sipVersion) {
		return sl, false
	}
	return startLine{method: method}, true
}

// hasToTag reports whether b's header (before the empty line) has a To
// header (or its compact form t) with a tag parameter: a request that
// claims to belong to a dialog (RFC 3261 §12.2.2). A tag that is only in
// the display name counts too: the claim is then checked on the parsed
// request.
func hasToTag(b []byte) bool {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		b = b[:i+2]
	}
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte("\r\n"))
		b = rest
		name, value, found := bytes.Cut(line, []byte{':'})
		if !found {
			continue
		}
		name = bytes.TrimRight(name, " \t")
		if !bytes.EqualFold(name, []byte("To")) && !bytes.EqualFold(name, []byte("t")) {
			continue
		}
		if containsFold(value, []byte(";tag=")) {
			return true
		}
	}
	return false
}

// containsFold is bytes.Contains ignoring ASCII case; sub is lower case.
func containsFold(b, sub []byte) bool {
	for i := 0; i+len(sub) <= len(b); i++ {
		if bytes.EqualFold(b[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// isToken reports whether c may be in a method (RFC 3261 §25.1 token).
func isToken(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', isDigit(c):
		return true
	}
	switch c {
	case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
		return true
	}
	return false
}

// isKeepAlive reports whether b is a CRLF keep-alive (RFC 5626 §3.5.1),
// or the zero bytes some NATs send: sipgo skips both.
func isKeepAlive(b []byte) bool {
	return len(b) <= 4 && len(bytes.Trim(b, "\r\n\x00")) == 0
}
