package enroll

import (
	"crypto/subtle"

	"denwa/dtmf"
)

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
// maxSequence keys. code is the challenge code (digits '0'–'9', at least
// 2 of them, so that 0# is never a code), or nil outside challenge mode.
//
// One leading * is the switch to tones that analog (pulse-dial) callers
// press first; it is dropped before the rest is judged. Then 0# reports
// fraud, nothing at all (a lone *) is no answer yet, and # verifies,
// or in challenge mode the code followed by #. Everything else is wrong:
// other digits, a second *, A–D, a sequence cut off by the timeout before
// its #, and in challenge mode # alone, another code or the code without
// its #. The code is compared in constant time: how long the comparison
// takes tells nothing about how much of it was right.
func classify(keys []dtmf.Key, code []byte) verdict {
	if len(keys) > 0 && keys[0] == '*' {
		keys = keys[1:]
	}
	switch string(keys) {
	case "":
		return verdictNone
	case "0#":
		return verdictFraud
	}
	// The length check tells only the length of what was pressed.
	if len(keys) != len(code)+1 || keys[len(code)] != '#' {
		return verdictWrong
	}
	var got [maxSequence]byte
	for i, k := range keys[:len(code)] {
		got[i] = byte(k)
	}
	if subtle.ConstantTimeCompare(got[:len(code)], code) == 1 {
		return verdictVerify
	}
	return verdictWrong
}
