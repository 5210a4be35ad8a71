package enroll

import (
	"context"
	"sync"
	"time"
)

// Publish/subscribe: changes reach subscribers at once from this Service,
// and from other nodes through the Store: as they are committed when the
// Store is a Watcher (one watcher per Service, fanned out here to the
// subscribers of each ID), else by polling it.

// watchPollFactor: with a Watcher, subscriptions are still read every
// watchPollFactor PollIntervals, for what no write announces (expiry).
const watchPollFactor = 10

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
// Changes made by this Service arrive at once. Changes made by another
// node sharing the Store arrive as they are committed when the Store is a
// Watcher (PostgreSQL); otherwise they are seen by polling the Store every
// PollInterval (a second by default), so within about that. Reading the
// Store also applies expiry (see Get): every PollInterval without a
// Watcher, every ten with one.
//
// The channel is closed when cancel is called, ctx ends or the Service
// closes; cancel may be called more than once. Errors: ErrNotFound,
// ErrClosed.
func (s *Service) Subscribe(ctx context.Context, id string) (<-chan Enrollment, func(), error) {
	// Registered before the first read, so that a change committed after
	// that read is announced to it (the read itself sees any before).
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
	e, err := s.Get(ctx, id)
	if err != nil {
		remove()
		return nil, nil, err
	}
	s.mu.Lock()
	if _, ok := s.subs[id][sub]; ok { // not closed meanwhile
		sub.offer(e)
	}
	s.mu.Unlock()
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

// changed is the Watcher's callback: the enrollment id changed on some
// node ("": anything may have). It marks what this node's subscribers
// must read again and wakes the poller; it never waits on the Store.
func (s *Service) changed(id string) {
	s.mu.Lock()
	switch {
	case id == "":
		s.dirtyAll = true
	case s.subs[id] != nil:
		s.dirty[id] = true
	default:
		s.mu.Unlock()
		return // no subscriber here
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// toRead returns the subscribed IDs to read again: every one when all, or
// when the watcher said anything may have changed, else those it named.
func (s *Service) toRead(all bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	all = all || s.dirtyAll
	var ids []string
	if all {
		ids = make([]string, 0, len(s.subs))
		for id := range s.subs {
			ids = append(ids, id)
		}
	} else {
		for id := range s.dirty {
			if s.subs[id] != nil {
				ids = append(ids, id)
			}
		}
	}
	clear(s.dirty)
	s.dirtyAll = false
	return ids
}

// poll is the poller goroutine. It reads the enrollments someone
// subscribed to here, so that changes made by other nodes (and expiry)
// reach them: those the watcher names as it names them, when the Store is
// a Watcher; every one of them every PollInterval otherwise (and every
// watchPollFactor PollIntervals with a watcher). It also prunes old
// rate-limit counters now and then. A Watcher that cannot start (the
// database is down) is tried again every PollInterval, polling meanwhile.
func (s *Service) poll() {
	defer close(s.pollExited)
	w, watchable := s.st.(Watcher)
	watching, failedOnce := false, false
	stopWatch := func() {}
	defer func() { stopWatch() }()
	startWatch := func() {
		ctx, cancel := context.WithCancel(context.Background())
		if err := w.WatchEnrollments(ctx, s.changed); err != nil {
			cancel()
			if !failedOnce {
				s.log.Warn("enroll: watching the store for changes failed; polling subscriptions and trying again", "err", err)
			}
			failedOnce = true
			return
		}
		if failedOnce {
			s.log.Info("enroll: watching the store for changes")
		}
		stopWatch, watching = cancel, true
		s.changed("") // what changed before it listened
	}
	if watchable {
		startWatch()
	}
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	var lastPrune, lastFull time.Time
	for {
		tick := false
		select {
		case <-s.pollDone:
			return
		case <-t.C:
			tick = true
		case <-s.wake:
		}
		if watchable && !watching && tick {
			startWatch()
		}
		full := false
		if tick && (!watching || time.Since(lastFull) >= watchPollFactor*s.cfg.PollInterval) {
			full, lastFull = true, time.Now()
		}
		ids := s.toRead(full)
		ctx, cancel := context.WithTimeout(s.base, s.cfg.PollInterval*5)
		for _, id := range ids {
			e, err := s.Get(ctx, id)
			if err != nil {
				s.log.Warn("enroll: reading a subscribed enrollment failed", "enrollment", id, "err", err)
				continue
			}
			s.publish(e)
		}
		if now := s.now(); tick && now.Sub(lastPrune) > 10*time.Minute {
			lastPrune = now
			if err := s.st.PruneCounters(ctx, now.Add(-counterKeep)); err != nil {
				s.log.Warn("enroll: pruning rate-limit counters failed", "err", err)
			}
		}
		cancel()
	}
}
