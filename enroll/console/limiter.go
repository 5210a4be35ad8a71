package console

import (
	"sync"
	"time"
)

// failures counts failed sign-ins per client address in fixed windows,
// in this process only: on a deployment of several nodes each node
// counts its own. An API key holds 256 random bits, so the limit is not
// what keeps keys from being guessed; it keeps a client that tries
// anyway from using the console's listener and the store as a free
// oracle. It is safe for concurrent use.
type failures struct {
	max    int           // failures allowed per address and window
	window time.Duration // length of a window
	cap    int           // addresses remembered at most

	mu   sync.Mutex
	seen map[string]*failCount
}

type failCount struct {
	n     int
	start time.Time // the window's start
}

// maxAddresses bounds the addresses failures remembers. When full, the
// ones whose windows ended are forgotten; if none has, every address not
// yet known is refused until one does (failing closed).
const maxAddresses = 10000

func newFailures(max int, window time.Duration) *failures {
	return &failures{max: max, window: window, cap: maxAddresses, seen: map[string]*failCount{}}
}

// allowed reports whether addr may try to sign in at now.
func (f *failures) allowed(addr string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.seen[addr]
	switch {
	case ok && now.Sub(c.start) >= f.window:
		delete(f.seen, addr)
		return true
	case ok:
		return c.n < f.max
	case len(f.seen) >= f.cap:
		f.pruneLocked(now)
		return len(f.seen) < f.cap
	}
	return true
}

// fail counts a failed sign-in of addr at now.
func (f *failures) fail(addr string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.seen[addr]
	if !ok || now.Sub(c.start) >= f.window {
		if !ok && len(f.seen) >= f.cap {
			f.pruneLocked(now)
			if len(f.seen) >= f.cap {
				return
			}
		}
		c = &failCount{start: now}
		f.seen[addr] = c
	}
	c.n++
}

func (f *failures) pruneLocked(now time.Time) {
	for a, c := range f.seen {
		if now.Sub(c.start) >= f.window {
			delete(f.seen, a)
		}
	}
}
