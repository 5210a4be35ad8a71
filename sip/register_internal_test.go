package sip

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestBackoff: the wait doubles from lo up to hi and is drawn between
// half and all of it (seeded, so the draws are always these).
func TestBackoff(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 13))
	lo, hi := 5*time.Second, time.Minute
	caps := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute, time.Minute}
	seen := map[time.Duration]bool{}
	for n, c := range caps {
		for range 50 {
			w := backoff(rng, lo, hi, n+1)
			if w < c/2 || w > c {
				t.Fatalf("failure %d: waited %v; want between %v and %v", n+1, w, c/2, c)
			}
			seen[w] = true
		}
	}
	if len(seen) < 300 {
		t.Errorf("%d distinct waits in 350; want jitter", len(seen))
	}
	if w := backoff(rng, lo, hi, 1000); w > hi {
		t.Errorf("after 1000 failures: %v > %v", w, hi)
	}
}
