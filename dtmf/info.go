package dtmf

import (
	"strconv"
	"strings"
)

// Keys sent as SIP INFO requests (RFC 6086), in the two bodies phones and
// gateways use. Neither has an RFC of its own; both are what Cisco,
// Asterisk, FreeSWITCH and linphone send and accept.
//
// application/dtmf-relay: lines of name=value, CRLF or LF, names in any
// case, spaces around either part, unknown lines ignored. Signal is the
// key, as its character or as its RFC 4733 event code (some gateways send
// 10 and 11 for * and #); Duration is the press's length in milliseconds,
// often absent.
//
//	Signal=5\r\n
//	Duration=160\r\n
//
// application/dtmf: the key's character alone, possibly followed by
// whitespace.
//
//	#\r\n
//
// Time in this package is counted in samples, so the parser turns
// Duration into samples at 8000 Hz.

// InfoFormat is the body format of a SIP INFO key.
type InfoFormat uint8

const (
	InfoUnknown   InfoFormat = iota // not a key body
	InfoDTMFRelay                   // application/dtmf-relay
	InfoDTMF                        // application/dtmf
)

// InfoContentTypes are the Content-Types ParseInfo reads, for an Accept
// header.
const InfoContentTypes = "application/dtmf-relay, application/dtmf"

// String returns the format's media type, or "unknown".
func (f InfoFormat) String() string {
	switch f {
	case InfoDTMFRelay:
		return "application/dtmf-relay"
	case InfoDTMF:
		return "application/dtmf"
	}
	return "unknown"
}

// MaxInfoBody is the longest body ParseInfo reads: a key body is a few
// dozen bytes, so anything longer is refused unread (ErrInfoTooLong).
const MaxInfoBody = 512

// MaxInfoDuration is the longest Duration ParseInfo reports: 10 s, in
// samples. A longer one is cut to it.
const MaxInfoDuration = 10 * SampleRate

// InfoFormatOf returns the format a Content-Type value names: its media
// type, in any case, parameters and spaces ignored.
func InfoFormatOf(contentType string) InfoFormat {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, "application/dtmf-relay"):
		return InfoDTMFRelay
	case strings.EqualFold(mt, "application/dtmf"):
		return InfoDTMF
	}
	return InfoUnknown
}

// InfoKey is the key a SIP INFO body carries.
type InfoKey struct {
	Key Key
	// Duration is the press's length in samples (Duration= in
	// milliseconds times 8), at most MaxInfoDuration; 0 when the body
	// gives none.
	Duration int64
}

// ParseInfo reads the key of a SIP INFO body in format f. It returns
// ErrInfoTooLong for a body over MaxInfoBody bytes, ErrInfoFormat for
// InfoUnknown, ErrInfoNoKey for a body without a key, ErrInfoNotKey for a
// signal that is a valid event but not one of the 16 keys (flash, 16), and
// ErrInfoSyntax for a signal that cannot be read. It does not allocate on
// success.
func ParseInfo(f InfoFormat, body []byte) (InfoKey, error) {
	if len(body) > MaxInfoBody {
		return InfoKey{}, ErrInfoTooLong
	}
	switch f {
	case InfoDTMFRelay:
		return parseRelay(body)
	case InfoDTMF:
		s := strings.TrimSpace(string(body))
		if s == "" {
			return InfoKey{}, ErrInfoNoKey
		}
		k, err := parseSignal(s)
		return InfoKey{Key: k}, err
	}
	return InfoKey{}, ErrInfoFormat
}

func parseRelay(body []byte) (InfoKey, error) {
	var out InfoKey
	var signal string
	seen := false
	rest := string(body)
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case strings.EqualFold(name, "signal"):
			if seen {
				continue // the first Signal counts
			}
			signal, seen = value, true
		case strings.EqualFold(name, "duration"):
			if ms, err := strconv.ParseInt(value, 10, 64); err == nil && ms > 0 {
				out.Duration = min(ms, MaxInfoDuration/8) * 8
			}
		}
	}
	if !seen || signal == "" {
		return InfoKey{}, ErrInfoNoKey
	}
	k, err := parseSignal(signal)
	out.Key = k
	if err != nil {
		return InfoKey{}, err
	}
	return out, nil
}

// parseSignal reads a key as its character (a–d in any case) or as its
// RFC 4733 event code 0–15.
func parseSignal(s string) (Key, error) {
	if len(s) == 1 {
		k := Key(s[0])
		if k >= 'a' && k <= 'd' {
			k -= 'a' - 'A'
		}
		if k.Valid() {
			return k, nil
		}
		return 0, ErrInfoSyntax
	}
	if len(s) > 3 {
		return 0, ErrInfoSyntax
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, ErrInfoSyntax
	}
	if k, ok := KeyFromCode(uint8(n)); ok {
		return k, nil
	}
	return 0, ErrInfoNotKey
}

// AppendDTMFRelay appends an application/dtmf-relay body for k lasting
// dur samples (Duration in whole milliseconds; none when dur ≤ 0). It
// returns ErrInvalidKey for an invalid k.
func AppendDTMFRelay(dst []byte, k Key, dur int64) ([]byte, error) {
	if !k.Valid() {
		return dst, ErrInvalidKey
	}
	dst = append(dst, "Signal="...)
	dst = append(dst, byte(k))
	dst = append(dst, "\r\n"...)
	if dur > 0 {
		dst = append(dst, "Duration="...)
		dst = strconv.AppendInt(dst, min(dur, MaxInfoDuration)/8, 10)
		dst = append(dst, "\r\n"...)
	}
	return dst, nil
}
