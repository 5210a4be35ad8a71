package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	sipgo_sip "github.com/emiago/sipgo/sip"
)

// Session timers (RFC 4028), when the far end asks for them. denwa's
// INVITE says `Supported: timer` and asks for no interval itself; the far
// end's 2xx may set one (`Session-Expires: 1800;refresher=uac`):
//   - refresher=uac (or none named): we refresh, at half the interval,
//     with an UPDATE without SDP when the far end allows UPDATE, else a
//     re-INVITE with our SDP unchanged (RFC 4028 §7.4, §10);
//   - refresher=uas: the far end refreshes, with re-INVITEs or UPDATEs we
//     answer (reinvite.go); when none has come by the interval less a
//     third (32 s at most) we end the call with BYE (§10), Call.Err
//     ErrSessionExpired.
//
// Every refresh renegotiates: a refresh of theirs names the interval and
// refresher anew (one without Session-Expires turns the timer off), and so
// does the 2xx to ours. A 422 to the INVITE is answered once with a new
// INVITE asking for the far end's Min-SE (§7.4); a 422 to a refresh
// likewise. Intervals are taken as the far end gives them, short ones
// included, but refreshes are never closer than minRefresh.

const (
	// minRefresh bounds how often we refresh, whatever the interval.
	minRefresh = 500 * time.Millisecond
	// refreshTimeout bounds the wait for a refresh's final response.
	refreshTimeout = 8 * time.Second
	// maxSE bounds an interval or Min-SE we accept: one day.
	maxSE = 86400
)

// sessionTimer is one call's RFC 4028 state. Its methods are safe for
// concurrent use; a nil *sessionTimer is off.
type sessionTimer struct {
	mu        sync.Mutex
	interval  time.Duration // zero: no session timer
	refresher bool          // we refresh
	update    bool          // the far end allows UPDATE
	minSE     int           // the Min-SE a 422 asked for; zero: none
	last      time.Time     // the last refresh (or the answer)
	retryAt   time.Time     // a failed refresh of ours is tried again then
	kick      chan struct{} // cap 1: the schedule changed
}

// parseSessionExpires reads "1800;refresher=uac" (RFC 4028 §4): the
// interval in seconds and the refresher ("" when not named).
func parseSessionExpires(v string) (int, string, bool) {
	num, params, _ := strings.Cut(strings.TrimSpace(v), ";")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n <= 0 || n > maxSE {
		return 0, "", false
	}
	refresher := ""
	for p := range strings.SplitSeq(params, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(val))
		}
	}
	return n, refresher, true
}

// headerReader is a request or a response.
type headerReader interface {
	GetHeader(name string) sipgo_sip.Header
	GetHeaders(name string) []sipgo_sip.Header
}

// sessionExpires returns the first Session-Expires (or its compact form
// x) of msg.
func sessionExpires(msg headerReader) (int, string, bool) {
	h := msg.GetHeader("Session-Expires")
	if h == nil {
		h = msg.GetHeader("x")
	}
	if h == nil {
		return 0, "", false
	}
	return parseSessionExpires(h.Value())
}

func listHas(msg headerReader, header, token string) bool {
	for _, h := range msg.GetHeaders(header) {
		for t := range strings.SplitSeq(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// newSessionTimer reads the INVITE's 2xx; minSE is what a 422 asked for.
func newSessionTimer(res *sipgo_sip.Response, minSE int) *sessionTimer {
	st := &sessionTimer{minSE: minSE, kick: make(chan struct{}, 1), last: time.Now(),
		update: listHas(res, "Allow", "UPDATE")}
	if n, who, ok := sessionExpires(res); ok {
		// The 2xx names the refresher from the INVITE's roles: we are the uac.
		st.interval, st.refresher = time.Duration(n)*time.Second, who != "uas"
	}
	return st
}

// set renegotiates after a refresh (ours: weRefresh is who="uac"; theirs:
// who="uas"). Under mu.
func (st *sessionTimer) set(n int, weRefresh bool) {
	st.interval, st.refresher = time.Duration(n)*time.Second, weRefresh
	st.last, st.retryAt = time.Now(), time.Time{}
	select {
	case st.kick <- struct{}{}:
	default:
	}
}

// received renegotiates after a refresh of the far end's (its INVITE or
// UPDATE, answered 2xx with res), and adds the headers that confirm it.
func (st *sessionTimer) received(req *sipgo_sip.Request, res *sipgo_sip.Response) {
	st.mu.Lock()
	defer st.mu.Unlock()
	n, who, ok := sessionExpires(req)
	if !ok {
		st.set(0, false) // no Session-Expires: no session timer from now on
		return
	}
	if who != "uas" {
		who = "uac" // not named: the far end, which asked, refreshes
	}
	st.set(n, who == "uas")
	res.AppendHeader(sipgo_sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", n, who)))
	if listHas(req, "Supported", "timer") {
		res.AppendHeader(sipgo_sip.NewHeader("Require", "timer"))
	}
}

// headers adds a refresh's Session-Expires, Min-SE and Supported. Under mu.
func (st *sessionTimer) headers(req *sipgo_sip.Request) {
	n := max(int(st.interval/time.Second), st.minSE)
	req.AppendHeader(sipgo_sip.NewHeader("Session-Expires", strconv.Itoa(n)+";refresher=uac"))
	if st.minSE > 0 {
		req.AppendHeader(sipgo_sip.NewHeader("Min-SE", strconv.Itoa(st.minSE)))
	}
	req.AppendHeader(sipgo_sip.NewHeader("Supported", "timer"))
}

// next returns when the timer acts next and whether that is a refresh of
// ours (else the session expires); ok false while there is no timer.
func (st *sessionTimer) next() (time.Time, bool, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.interval <= 0 {
		return time.Time{}, false, false
	}
	if st.refresher {
		if !st.retryAt.IsZero() {
			return st.retryAt, true, true
		}
		return st.last.Add(max(st.interval/2, minRefresh)), true, true
	}
	return st.last.Add(st.interval - min(32*time.Second, st.interval/3)), false, true
}

// run is the call's session timer: it refreshes when we are the refresher
// and ends the call when a refresh of theirs is overdue. It runs until the
// call ends.
func (c *Call) runSessionTimer() {
	st := c.st
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		at, refresh, on := st.next()
		var fire <-chan time.Time
		if on {
			t.Reset(max(time.Until(at), 0))
			fire = t.C
		}
		select {
		case <-c.stopped:
			return
		case <-st.kick:
			continue
		case <-fire:
		}
		if !refresh {
			c.log.Info("session expired: no refresh from the far end")
			c.end(ErrSessionExpired, true)
			return
		}
		if err := c.refresh(); err != nil {
			c.log.Info("session refresh failed; ending the call", "err", err)
			c.end(err, true)
			return
		}
	}
}

// refresh sends one refresh of ours (RFC 4028 §7.4, §10) and schedules
// what follows from its answer. An error ends the call.
func (c *Call) refresh() error {
	st := c.st
	st.mu.Lock()
	method := sipgo_sip.INVITE
	if st.update {
		method = sipgo_sip.UPDATE
	}
	deadline := st.last.Add(st.interval)
	st.mu.Unlock()
	ctx, stop := context.WithTimeout(context.Background(), refreshTimeout)
	defer stop()
	go func() { // the call ending stops the wait
		select {
		case <-c.stopped:
			stop()
		case <-ctx.Done():
		}
	}()
	res, err := c.dm.inDialogRequest(ctx, method, nil, c.send, c.request, c.ackReinvite, func(req *sipgo_sip.Request) {
		st.mu.Lock()
		st.headers(req)
		st.mu.Unlock()
	})
	st.mu.Lock()
	defer st.mu.Unlock()
	retry := func(after time.Duration) error {
		st.retryAt = time.Now().Add(max(after, minRefresh))
		if st.retryAt.After(deadline) {
			return fmt.Errorf("%w: refresh not accepted before the session expired", ErrSessionExpired)
		}
		return nil
	}
	switch {
	case errors.Is(err, errBusy):
		return retry(time.Second)
	case err != nil && res == nil:
		if ctx.Err() != nil && c.Err() != nil { // the call is ending
			return nil
		}
		return fmt.Errorf("%w: refresh: %w", ErrSessionExpired, err)
	case res.IsSuccess():
		if n, who, ok := sessionExpires(res); ok {
			st.set(n, who != "uas")
		} else {
			st.set(0, false) // the far end turned the timer off
		}
		return err // an ACK that could not be sent
	case res.StatusCode == 491:
		return retry(glareWait(true))
	case res.StatusCode == 422:
		h := res.GetHeader("Min-SE")
		n := 0
		if h != nil {
			n, _, _ = parseSessionExpires(h.Value())
		}
		if n == 0 || n <= st.minSE {
			return fmt.Errorf("%w: refresh answered 422 without a usable Min-SE", ErrSessionExpired)
		}
		st.minSE = n
		return retry(0)
	case (res.StatusCode == 501 || res.StatusCode == 405) && method == sipgo_sip.UPDATE:
		st.update = false // UPDATE after all not allowed: re-INVITE
		return retry(0)
	case res.StatusCode == 481 || res.StatusCode == 408:
		return fmt.Errorf("%w: refresh answered %d", ErrRemoteHangup, res.StatusCode)
	}
	// Refused otherwise: the session goes on as it was; try again in half
	// of what is left of it.
	return retry(time.Until(deadline) / 2)
}

// intervalTooSmall answers a 422 to the INVITE (RFC 4028 §7.4) once: the
// same INVITE again, CSeq+1 and a new branch, asking for the far end's
// Min-SE. A second 422, or one without a usable Min-SE, ends the attempt.
func (a *attempt) intervalTooSmall(res *sipgo_sip.Response) error {
	h := res.GetHeader("Min-SE")
	n := 0
	if h != nil {
		n, _, _ = parseSessionExpires(h.Value())
	}
	if a.minSE != 0 || n == 0 {
		return finalError(res)
	}
	a.minSE = n
	a.tx.Terminate()
	a.invite.RemoveHeader("Session-Expires")
	a.invite.RemoveHeader("Min-SE")
	a.invite.AppendHeader(sipgo_sip.NewHeader("Session-Expires", strconv.Itoa(n)))
	a.invite.AppendHeader(sipgo_sip.NewHeader("Min-SE", strconv.Itoa(n)))
	a.invite.CSeq().SeqNo++
	a.provisional = false
	a.log.Info("session interval too small; asking for the far end's Min-SE", "min_se", n)
	tx, err := a.d.send(a.ctx, a.invite)
	if err != nil {
		return &CallError{Kind: Unreachable, Err: fmt.Errorf("sip: send INVITE after 422: %w", err)}
	}
	a.tx, a.resent = tx, true
	return nil
}
