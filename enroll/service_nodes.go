package enroll

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Nodes and their leases. A named node (ServiceConfig.Node) holds a lease
// in the Store: the lease holder goroutine renews it about every third of
// NodeLease, each renewal good for NodeLease from when it was sent. The
// same goroutine ends the calls of lost nodes: a node whose lease lapsed
// with enrollments still in calling died (or lost the database for longer
// than its lease), and no one else will ever record how its calls ended.
//
// The rules, and why:
//
//   - A node places calls only while it holds its lease (StartCall refuses
//     with ErrNoLease otherwise, and /readyz says so through LeaseHealth):
//     another node may end any call of a node whose lease lapsed. Calls in
//     progress go on; if their enrollment was ended meanwhile, their end
//     is dropped as superseded (service_results.go), and the user may call
//     again.
//   - A node never ends its own calls as lost (the sweep and Recover do
//     that, service_results.go), and it ends another node's call only if
//     the call started before the moment it found the node lost: a node
//     that renews its lease and places a call just after being listed
//     keeps that call.
//   - A node ends other nodes' calls only after it has itself renewed its
//     lease without a failure for a whole lease: when the database was
//     unreachable for everyone (every lease lapsed), the nodes that come
//     back first must let the others renew before judging them. So a node
//     that loses the database for a few seconds fails nothing: its lease
//     holds (renewals are retried every third of the lease), the ends of
//     its calls wait and are written again, and other nodes do not judge
//     it before its lease ends.
//   - Each lost call is ended with Store.UpdateEnrollment's compare-and-set
//     (NodeLostCall: failed, cause CauseNodeLost, retryable, with its
//     audit event and webhook), so exactly one node ends it however many
//     try; a conflict means another node (or the call's own end) got there
//     first. A node that comes back under the same name finds them ended:
//     nothing is resurrected.
//
// Leases compare the clocks of different nodes: keep them in sync (NTP);
// an offset eats into the lease.

// minNodeLease is the shortest NodeLease: renewals every third of it must
// have time to reach the database.
const minNodeLease = 300 * time.Millisecond

// ErrNoLease is the error StartCall wraps when this node does not hold its
// lease in the Store (not taken yet, or lapsed while the Store was
// unreachable). It wraps ErrClosed: the front doors answer it as a
// service that is unavailable here, for now.
var ErrNoLease = fmt.Errorf("%w: this node holds no lease in the store", ErrClosed)

// leaseState is the lease as this node knows it, guarded by Service.mu.
type leaseState struct {
	until time.Time // the end of the last lease the Store took; zero: none yet
	// since is when the current run of successful renewals began (zero
	// after a failure): other nodes are judged only a lease after it.
	since time.Time
	err   error // the last renewal's error; nil after a success
	lost  bool  // a lapse was logged
}

// NodeStats is what a node says about itself, for metrics.
type NodeStats struct {
	Node       string    // ServiceConfig.Node
	Calls      int       // calls in progress on this node
	LeaseUntil time.Time // when this node's lease ends; zero: none
	LeaseHeld  bool      // the lease has not lapsed (always true without Node)
	Reaped     int64     // calls of lost nodes this node ended
}

// NodeStats returns this node's calls in progress, its lease and the calls
// of lost nodes it ended.
func (s *Service) NodeStats() NodeStats {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return NodeStats{
		Node: s.cfg.Node, Calls: len(s.calling),
		LeaseUntil: s.lease.until, LeaseHeld: s.leaseHeldLocked(now),
		Reaped: s.reaped.Load(),
	}
}

func (s *Service) leaseHeldLocked(now time.Time) bool {
	return s.cfg.Node == "" || now.Before(s.lease.until)
}

// LeaseHealth returns nil while this node may place calls: it has no name,
// or it holds its lease. Otherwise it says why not, with the Store's last
// error (the innermost one, fit for a public probe). cmd/denwa's /readyz
// reports it; it clears by itself at the next renewal the Store takes.
func (s *Service) LeaseHealth() error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leaseHeldLocked(now) {
		return nil
	}
	msg := "not taken yet"
	if !s.lease.until.IsZero() {
		msg = "lapsed at " + s.lease.until.Format(time.RFC3339)
	}
	if s.lease.err != nil {
		return fmt.Errorf("%s: %w", msg, innermost(s.lease.err))
	}
	return errors.New(msg)
}

// checkLease returns nil when this node may place a call now, else an
// error wrapping ErrNoLease.
func (s *Service) checkLease() error {
	if err := s.LeaseHealth(); err != nil {
		return fmt.Errorf("%w: %w", ErrNoLease, err)
	}
	return nil
}

// renewLease writes this node's lease, good for NodeLease from now, and
// records the outcome.
func (s *Service) renewLease(ctx context.Context) error {
	start := s.now()
	until := start.Add(s.cfg.NodeLease)
	err := s.st.RenewNodeLease(ctx, s.cfg.Node, until)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("renew the lease of node %q: %w", s.cfg.Node, err)
		first := s.lease.err == nil
		s.lease.err, s.lease.since = err, time.Time{}
		now := s.now()
		switch {
		case !s.lease.lost && !s.lease.until.IsZero() && !now.Before(s.lease.until):
			s.lease.lost = true
			s.log.Error("enroll: this node's lease lapsed: it places no call until the store takes a renewal, and other nodes may end its calls in progress",
				"node", s.cfg.Node, "err", err)
		case first:
			s.log.Warn("enroll: renewing this node's lease failed; retrying", "node", s.cfg.Node, "until", s.lease.until, "err", err)
		}
		return err
	}
	if s.lease.lost || s.lease.err != nil {
		s.log.Info("enroll: this node's lease renewed again", "node", s.cfg.Node, "lapsed", s.lease.lost)
	}
	if until.After(s.lease.until) {
		s.lease.until = until
	}
	if s.lease.since.IsZero() {
		s.lease.since = start
	}
	s.lease.err, s.lease.lost = nil, false
	return nil
}

// holdLease is the lease holder goroutine: every third of NodeLease
// (jittered, so that nodes spread out) it renews the lease and, unless the
// Service is closing, ends the calls of lost nodes. It runs until the
// keeper stops, once the calls in progress have ended: a node that drains
// its calls keeps its lease meanwhile.
func (s *Service) holdLease() {
	defer close(s.leaseExited)
	period := s.cfg.NodeLease / 3
	t := time.NewTimer(jitter(period))
	defer t.Stop()
	for {
		select {
		case <-s.keepStop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), period)
		if s.renewLease(ctx) == nil && !s.isClosed() {
			if _, err := s.ReapLostNodes(ctx); err != nil {
				s.log.Warn("enroll: ending the calls of lost nodes failed; trying again later", "err", err)
			}
		}
		cancel()
		t.Reset(jitter(period))
	}
}

// ReapLostNodes ends the calls in progress of the nodes whose lease lapsed
// (Store.LostNodes), other than this one, as failed with cause
// CauseNodeLost (see the rules at the top of this file). It does nothing
// for an unnamed node, and nothing until this node has renewed its own
// lease without a failure for a whole NodeLease. The lease holder calls it
// every third of the lease; it returns the enrollments it ended.
func (s *Service) ReapLostNodes(ctx context.Context) ([]Enrollment, error) {
	if s.cfg.Node == "" {
		return nil, nil
	}
	now := s.now()
	s.mu.Lock()
	since := s.lease.since
	s.mu.Unlock()
	if since.IsZero() || now.Sub(since) < s.cfg.NodeLease {
		return nil, nil
	}
	nodes, err := s.st.LostNodes(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("enroll: lost nodes: %w", err)
	}
	var ended []Enrollment
	for _, node := range nodes {
		if node == s.cfg.Node {
			continue
		}
		es, err := s.st.CallingEnrollments(ctx, node)
		if err != nil {
			return ended, fmt.Errorf("enroll: calls of lost node %q: %w", node, err)
		}
		for _, e := range es {
			if !e.UpdatedAt.Before(now) {
				continue // placed after the node was found lost: it renewed meanwhile
			}
			next, ev, m := NodeLostCall(e, s.now())
			err := s.st.UpdateEnrollment(ctx, next, []AuditEvent{ev}, []OutboxMessage{m})
			if errors.Is(err, ErrConflict) {
				continue // ended already: by another node, or by its call
			}
			if err != nil {
				return ended, fmt.Errorf("enroll: end call of lost node %q: %s: %w", node, e.ID, err)
			}
			s.reaped.Add(1)
			s.log.Warn("enroll: call ended: its node lost its lease; recorded as failed (retryable)", "enrollment", e.ID, "lost_node", node)
			s.publish(next)
			ended = append(ended, next)
		}
	}
	return ended, nil
}
