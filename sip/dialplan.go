package sip

import (
	"fmt"
	"strings"
)

// Rule is one dial-plan rewrite: a number that starts with Match loses its
// first Strip characters and gets Prepend in front.
//
//	{Match: "+81", Strip: 3, Prepend: "0"}    +81312345678 → 0312345678 (Japanese PBX)
//	{Match: "+81", Strip: 3, Prepend: "00"}   same, behind outside-line prefix 0
//	{Match: "+",   Strip: 1, Prepend: "010"}  other countries: international prefix
//	{Match: "",    Strip: 0, Prepend: "0"}    everything: outside-line prefix only
type Rule struct {
	Match   string
	Strip   int
	Prepend string
}

// String renders the rule as "+81 -3 +0".
func (r Rule) String() string {
	return fmt.Sprintf("%q -%d +%q", r.Match, r.Strip, r.Prepend)
}

// DialPlan is an ordered rule list: the first rule whose Match is a prefix of
// the number applies, and only that one. A number no rule matches is dialled
// as it is. The zero value dials every number unchanged.
type DialPlan []Rule

// validate checks every rule.
func (p DialPlan) validate() error {
	for i, r := range p {
		if r.Strip < 0 || r.Strip > 32 {
			return fmt.Errorf("%w: dial plan rule %d: Strip %d out of range 0–32", ErrConfig, i, r.Strip)
		}
		if r.Strip > len(r.Match) && r.Match != "" {
			// Stripping past the matched prefix is allowed but almost
			// always a mistake in a hand-written plan.
			return fmt.Errorf("%w: dial plan rule %d: Strip %d is longer than Match %q", ErrConfig, i, r.Strip, r.Match)
		}
		if !dialable(r.Prepend, true) || !dialable(r.Match, true) {
			return fmt.Errorf("%w: dial plan rule %d: Match and Prepend may hold only digits, +, * and #", ErrConfig, i)
		}
	}
	return nil
}

// Rewrite returns what to put in the Request-URI user part for an E.164
// number ("+81312345678"; spaces, hyphens, dots and parentheses are
// removed first). It fails with ErrBadNumber when the number holds anything
// but a leading + and digits, or when the rewrite leaves nothing.
func (p DialPlan) Rewrite(number string) (string, error) {
	n := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')':
			return -1
		}
		return r
	}, number)
	digits := strings.TrimPrefix(n, "+")
	if digits == "" || len(n) > 32 || !isDigits(digits) {
		return "", fmt.Errorf("%w: %q is not an E.164 number", ErrBadNumber, MaskNumber(truncate(number, 40)))
	}
	for _, r := range p {
		if !strings.HasPrefix(n, r.Match) {
			continue
		}
		out := r.Prepend + n[min(r.Strip, len(n)):]
		if out == "" || !dialable(out, false) {
			return "", fmt.Errorf("%w: rule %v turns %q into %q", ErrBadNumber, r, MaskNumber(n), MaskNumber(out))
		}
		return out, nil
	}
	return n, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// dialable: digits, * and #, with + allowed at the start only (or anywhere
// when prefix is true, since prefixes are glued).
func dialable(s string, prefix bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c == '*', c == '#':
		case c == '+' && (i == 0 || prefix):
		default:
			return false
		}
	}
	return true
}
