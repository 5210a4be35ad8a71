package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// streamWriteTimeout bounds each write of an event stream, so that a
// client that stops reading does not hold the handler forever.
const streamWriteTimeout = 30 * time.Second

// stream: GET /v1/enrollments/{id}/stream, Server-Sent Events of the
// enrollment's state:
//
//	retry: 3000
//
//	id: <version>
//	event: state
//	data: <the enrollment as GET /v1/enrollments/{id} gives it>
//
//	: heartbeat
//
// The current state is sent at once, then each change (a slow reader
// misses intermediate versions, never the latest); a comment line every
// Heartbeat keeps proxies from closing an idle stream. The stream ends
// after the enrollment becomes final (completed, expired, or failed with
// no retry left), when the client goes, when the Service closes or when
// Server.Close is called.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) error {
	e, err := s.enrollment(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	updates, cancel, err := s.svc.Subscribe(ctx, e.ID)
	if err != nil {
		return err
	}
	defer cancel()
	s.streams.Add(1)
	defer s.streams.Add(-1)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(text string) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := w.Write([]byte(text)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write("retry: 3000\n\n") {
		return nil
	}
	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case e, ok := <-updates:
			if !ok {
				return nil // the Service closed
			}
			data, err := json.Marshal(s.enrollmentJSON(e))
			if err != nil {
				return nil
			}
			if !write(fmt.Sprintf("id: %d\nevent: state\ndata: %s\n\n", e.Version, data)) {
				return nil
			}
			if s.final(e) {
				return nil
			}
		case <-heartbeat.C:
			if !write(": heartbeat\n\n") {
				return nil
			}
		case <-ctx.Done():
			return nil
		case <-s.done:
			return nil
		}
	}
}

// streamsOpen reports how many event streams are in progress (for tests).
func (s *Server) streamsOpen() int64 { return s.streams.Load() }
