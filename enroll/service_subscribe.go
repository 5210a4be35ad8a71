package enroll

import (
	"context"
	"sync"
	"time"
)

// Publish/subscribe: changes reach subscribers at once from this Service,
// and by polling the Store from other nodes.

// subscriber is one Subscribe: the latest enrollment not yet read waits
// in ch (capacity 1); a newer one replaces it.
type subscriber struct {
	ch   chan Enrollment
	last int64 // Version last offered
}

// Subscribe returns a channel on which the enrollment is sent as it
// changes: first as it is now, then each time a newer version is seen.
// A slow reader misses intermediate versions, never the latest: the
// channel holds one value and a newer one replaces it.
//
// Changes made by this Service arrive at once; changes made by another
// node sharing the Store are seen by polling the Store every
// PollInterval (a second by default), so within about that. Polling also
// applies expiry (see Get).
//
// The channel is closed when cancel is called, ctx ends or the Service
// closes; cancel may be called more than once. Errors: ErrNotFound,
// ErrClosed.
func (s *Service) Subscribe(ctx context.Context, id string) (<-chan Enrollment, func(), error) {
	e, err := s.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	sub := &subscriber{ch: make(chan Enrollment, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, ErrClosed
	}
	set := s.subs[id]
	if set == nil {
		set = map[*subscriber]struct{}{}
		s.subs[id] = set
	}
	set[sub] = struct{}{}
	sub.offer(e)
	s.mu.Unlock()

	var once sync.Once
	remove := func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if set, ok := s.subs[id]; ok {
				if _, ok := set[sub]; ok {
					delete(set, sub)
					close(sub.ch)
					if len(set) == 0 {
						delete(s.subs, id)
					}
				}
			}
		})
	}
	stop := context.AfterFunc(ctx, remove)
	cancel := func() {
		stop()
		remove()
	}
	return sub.ch, cancel, nil
}

// offer hands e to the subscriber if it is newer than what it was last
// given. Called with Service.mu held, which makes it the only sender.
func (sub *subscriber) offer(e Enrollment) {
	if e.Version <= sub.last {
		return
	}
	sub.last = e.Version
	select {
	case sub.ch <- e:
	default:
		select {
		case <-sub.ch:
		default:
		}
		sub.ch <- e
	}
}

// publish offers e to its subscribers here.
func (s *Service) publish(e Enrollment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs[e.ID] {
		sub.offer(e)
	}
}

// counterKeep is how long rate-limit counters are kept after their
// window starts; the longest window is an hour.
const counterKeep = 2 * time.Hour

// poll reads the Store every PollInterval for the enrollments someone
// subscribed to here, so that changes made by other nodes (and expiry)
// reach them, and prunes old rate-limit counters now and then.
func (s *Service) poll() {
	defer close(s.pollExited)
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	var lastPrune time.Time
	for {
		select {
		case <-s.pollDone:
			return
		case <-t.C:
		}
		s.mu.Lock()
		ids := make([]string, 0, len(s.subs))
		for id := range s.subs {
			ids = append(ids, id)
		}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(s.base, s.cfg.PollInterval*5)
		for _, id := range ids {
			e, err := s.Get(ctx, id)
			if err != nil {
				s.log.Warn("enroll: subscription poll failed", "enrollment", id, "err", err)
				continue
			}
			s.publish(e)
		}
		if now := s.now(); now.Sub(lastPrune) > 10*time.Minute {
			lastPrune = now
			if err := s.st.PruneCounters(ctx, now.Add(-counterKeep)); err != nil {
				s.log.Warn("enroll: pruning rate-limit counters failed", "err", err)
			}
		}
		cancel()
	}
}
