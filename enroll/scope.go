package enroll

import (
	"fmt"
	"strings"
)

// Scopes is the set of things an API key may do. Each API route requires
// one scope; a key without it is refused (403). A mail gateway that only
// checks app passwords gets ScopeCheck and cannot mint them.
type Scopes uint8

// The scopes of API keys.
const (
	// ScopeEnroll: create enrollments, read them and their audit trail,
	// start and follow their calls.
	ScopeEnroll Scopes = 1 << iota
	// ScopeCheck: check app passwords (a mail gateway, a RADIUS bridge).
	ScopeCheck
	// ScopeAdmin: issue, list and revoke app passwords, and what else is
	// the operator's.
	ScopeAdmin

	// AllScopes is every scope: what keys made before scopes existed got.
	AllScopes = ScopeEnroll | ScopeCheck | ScopeAdmin
)

// scopeNames are the scopes in the order String writes them.
var scopeNames = [...]struct {
	s    Scopes
	name string
}{{ScopeAdmin, "admin"}, {ScopeCheck, "check"}, {ScopeEnroll, "enroll"}}

// Has reports whether s holds every scope of want.
func (s Scopes) Has(want Scopes) bool { return want != 0 && s&want == want }

// String returns the scopes as ParseScopes reads them: names in
// alphabetical order, joined by commas ("check,enroll"); "" for none.
func (s Scopes) String() string {
	var b strings.Builder
	for _, n := range scopeNames {
		if s&n.s != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n.name)
		}
	}
	return b.String()
}

// ParseScopes reads a comma-separated list of scope names ("enroll,check";
// spaces around names are ignored, repeats are no error). An unknown
// name, an empty list or an empty name is an error wrapping
// ErrInvalidInput.
func ParseScopes(text string) (Scopes, error) {
	var s Scopes
	for f := range strings.SplitSeq(text, ",") {
		f = strings.TrimSpace(f)
		found := false
		for _, n := range scopeNames {
			if f == n.name {
				s |= n.s
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("%w: scope %q (want admin, check or enroll)", ErrInvalidInput, f)
		}
	}
	return s, nil
}
