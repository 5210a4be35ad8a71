package sip

import (
	"strconv"
	"time"
)

// ProgressKind is a step of an outgoing call before it ends or is answered.
type ProgressKind uint8

const (
	ProgressUnknown ProgressKind = iota
	Trying                       // 100 Trying
	Ringing                      // 180 Ringing, or 183 without SDP
	EarlyMedia                   // 183 Session Progress with SDP: receiving early media
	Answered                     // 2xx, ACKed, media started
)

var progressNames = [...]string{"unknown", "trying", "ringing", "early-media", "answered"}

// String returns "trying", "ringing", "early-media", "answered" or "unknown".
func (k ProgressKind) String() string {
	if int(k) < len(progressNames) {
		return progressNames[k]
	}
	return "ProgressKind(" + strconv.Itoa(int(k)) + ")"
}

// Progress is one event reported to Dial's onProgress callback.
type Progress struct {
	Kind   ProgressKind
	At     time.Time // from Config.Now
	Status int       // the SIP status that caused it
	Reason string
}

// String renders "ringing (180 Ringing)".
func (p Progress) String() string {
	return p.Kind.String() + " (" + strconv.Itoa(p.Status) + " " + p.Reason + ")"
}
