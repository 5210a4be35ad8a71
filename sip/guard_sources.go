package sip

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// A Guard's rate limits: a token bucket per source address for the
// out-of-dialog requests it admits, and one for those it answers at all
// (admitted or 503), in a bounded map.

// verdict is what a source's limits say about one more request.
type verdict int

const (
	admit  verdict = iota // serve it
	refuse                // answer 503
	drop                  // drop it without an answer
)

// sources holds a rate limit per source address, at most max of them; the
// sources beyond share one.
type sources struct {
	mu                   sync.Mutex
	m                    map[netip.Addr]*source
	shared               *source
	max                  int
	rate, burst, ceiling int
	swept                time.Time
}

// source is one address's limits: admitted requests, and requests
// answered at all (admitted or 503).
type source struct {
	admit, answer *rate.Limiter
	seen          time.Time
}

// idleSource is how long a source stays remembered without a request.
const idleSource = time.Minute

func (s *sources) newSource() *source {
	return &source{admit: rate.NewLimiter(rate.Limit(s.rate), s.burst),
		answer: rate.NewLimiter(rate.Limit(s.ceiling), s.ceiling)}
}

// get returns a's limits; s.mu is held.
func (s *sources) get(a netip.Addr, now time.Time) *source {
	src := s.m[a]
	if src == nil {
		if len(s.m) >= s.max && now.Sub(s.swept) >= time.Second {
			s.swept = now
			for k, v := range s.m {
				if now.Sub(v.seen) >= idleSource {
					delete(s.m, k)
				}
			}
		}
		if len(s.m) >= s.max {
			return s.shared
		}
		src = s.newSource()
		s.m[a] = src
	}
	src.seen = now
	return src
}

// take decides on one more request from a.
func (s *sources) take(a netip.Addr, now time.Time) verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.get(a, now)
	if !src.answer.AllowN(now, 1) {
		return drop
	}
	if src.admit.AllowN(now, 1) {
		return admit
	}
	return refuse
}
