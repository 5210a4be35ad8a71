package enroll

import "denwa/dtmf"

// verdict is what a key sequence means to the dialogue.
type verdict uint8

const (
	verdictNone   verdict = iota // no answer yet: nothing, or only the tone-switch *
	verdictVerify                // # or *#: the person holds the phone
	verdictFraud                 // 0# or *0#: the person reports a call they did not ask for
	verdictWrong                 // anything else
)

func (v verdict) String() string {
	switch v {
	case verdictVerify:
		return "verify"
	case verdictFraud:
		return "fraud"
	case verdictWrong:
		return "wrong"
	}
	return "none"
}

// maxSequence is the most keys one sequence holds: a sequence this long
// without # is wrong at once, without waiting for the inter-key timeout.
const maxSequence = 8

// classify is the dialogue's whole policy on keys. keys is one finished
// sequence: ended by #, by the inter-key timeout or by reaching
// maxSequence keys.
//
// One leading * is the switch to tones that analog (pulse-dial) callers
// press first; it is dropped before the rest is judged. So # and *# verify,
// 0# and *0# report fraud, a lone * (followed by nothing) is no answer yet,
// and everything else is wrong: other digits, a second *, A–D, a sequence
// cut off by the timeout before its #.
func classify(keys []dtmf.Key) verdict {
	if len(keys) > 0 && keys[0] == '*' {
		keys = keys[1:]
	}
	switch string(keys) {
	case "":
		return verdictNone
	case "#":
		return verdictVerify
	case "0#":
		return verdictFraud
	}
	return verdictWrong
}
