package enroll

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"
)

// One record of use for every one-time thing the front doors hand out:
// the links (UseLink, LinkUsed) and the browser sessions a link opens
// (UseSession, SessionUsed). The web UI and the API both ask here, so a
// link one of them consumed is refused by the other.

// sessionPrefix keeps session IDs apart from link IDs in the store's one
// table of used tokens.
const sessionPrefix = "session:"

// LinkUsed reports whether l was consumed ([Service.UseLink]) on any
// node, by any front door.
func (s *Service) LinkUsed(ctx context.Context, l Link) (bool, error) {
	used, err := s.st.TokenUsed(ctx, l.ID)
	if err != nil {
		return false, fmt.Errorf("enroll: link used: %w", err)
	}
	return used, nil
}

// NewSessionID returns a random ID for a browser session (128 bits,
// URL-safe).
func NewSessionID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// UseSession records the session id as spent, until expires: a session
// moves on to a new ID at each step, and the old one is refused. Errors:
// ErrTokenUsed when it was spent before (a replayed session, or a request
// sent twice).
func (s *Service) UseSession(ctx context.Context, id string, expires time.Time) error {
	return s.st.UseToken(ctx, sessionPrefix+id, expires, s.now())
}

// SessionUsed reports whether the session id was spent (UseSession).
func (s *Service) SessionUsed(ctx context.Context, id string) (bool, error) {
	used, err := s.st.TokenUsed(ctx, sessionPrefix+id)
	if err != nil {
		return false, fmt.Errorf("enroll: session used: %w", err)
	}
	return used, nil
}
