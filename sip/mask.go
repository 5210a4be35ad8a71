package sip

// The one rule for what a logged phone number shows. enroll logs no
// numbers at all; sip and cmd/denwa mask them with MaskNumber.

// MaskNumber returns number with its digits masked for a log line: the last
// four digits stay, every other digit becomes '*', and an E.164 number
// ("+819012345678") also keeps the two digits after '+', which show the
// country of most numbers:
//
//	+819012345678 → +81******5678
//	0312345678    → ******5678
//
// A number of fewer than eight digits keeps none, since four digits of it
// would say too much. Characters other than digits (spaces, '-', '+') stay
// where they are, so text of any form may be passed; nothing in the result
// is a digit that was not meant to show. MaskNumber never fails. It
// returns a number without digits as it is; any other costs the copy it
// masks and the string it returns, two allocations (one for a number of
// up to 32 bytes, whose copy the compiler keeps on the stack).
func MaskNumber(number string) string {
	digits := 0
	for i := 0; i < len(number); i++ {
		if isDigit(number[i]) {
			digits++
		}
	}
	if digits == 0 {
		return number
	}
	keepHead, keepTail := 0, 4
	if len(number) > 0 && number[0] == '+' {
		keepHead = 2
	}
	if digits < 8 {
		keepHead, keepTail = 0, 0
	}
	b := []byte(number)
	seen := 0
	for i, c := range b {
		if !isDigit(c) {
			continue
		}
		if seen >= keepHead && seen < digits-keepTail {
			b[i] = '*'
		}
		seen++
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
