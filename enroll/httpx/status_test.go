package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"denwa/enroll/httpx"
)

func TestStatusRecorder(t *testing.T) {
	for _, tt := range []struct {
		name  string
		write func(w http.ResponseWriter)
		want  int
		wrote bool
	}{
		{"nothing", func(w http.ResponseWriter) {}, 200, false},
		{"body only", func(w http.ResponseWriter) { w.Write([]byte("x")) }, 200, true},
		{"header", func(w http.ResponseWriter) { w.WriteHeader(404) }, 404, true},
		{"first header wins", func(w http.ResponseWriter) { w.WriteHeader(429); w.WriteHeader(500) }, 429, true},
		{"header after body", func(w http.ResponseWriter) { w.Write(nil); w.WriteHeader(500) }, 200, true},
		{"informational first", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(201) }, 201, true},
		{"flush", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, 200, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := httpx.NewStatusRecorder(rec)
			tt.write(w)
			if w.Status() != tt.want || w.Wrote() != tt.wrote {
				t.Errorf("Status %d, Wrote %v; want %d, %v", w.Status(), w.Wrote(), tt.want, tt.wrote)
			}
		})
	}
}

// TestStatusRecorderFlush: an event stream behind the recorder (even
// behind two of them, as cmd/denwa's metrics wrap the front doors) can
// flush, directly and through http.ResponseController.
func TestStatusRecorderFlush(t *testing.T) {
	rec := httptest.NewRecorder()
	w := httpx.NewStatusRecorder(httpx.NewStatusRecorder(rec))
	w.Write([]byte("data: x\n\n"))
	w.Flush()
	if !rec.Flushed {
		t.Error("Flush did not reach the writer")
	}
	rec2 := httptest.NewRecorder()
	w2 := httpx.NewStatusRecorder(httpx.NewStatusRecorder(rec2))
	if err := http.NewResponseController(w2).Flush(); err != nil || !rec2.Flushed {
		t.Errorf("ResponseController.Flush = %v, flushed %v", err, rec2.Flushed)
	}
	if got := w.Unwrap().(*httpx.StatusRecorder).Unwrap(); got != rec {
		t.Errorf("Unwrap = %T", got)
	}
}

// A recorder over a writer that cannot flush does nothing on Flush.
func TestStatusRecorderNoFlusher(t *testing.T) {
	w := httpx.NewStatusRecorder(struct{ http.ResponseWriter }{httptest.NewRecorder()})
	w.Flush()
	if w.Wrote() {
		t.Error("Flush on a writer that cannot flush counted as a write")
	}
}
