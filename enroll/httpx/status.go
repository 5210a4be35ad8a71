// Package httpx holds the HTTP plumbing shared by denwa's front doors
// (enroll/httpapi, enroll/webui, enroll/console) and the wiring in
// cmd/denwa. It imports only the standard library.
package httpx

import "net/http"

// StatusRecorder is an http.ResponseWriter that remembers the status of
// the response written through it, for request logs and metrics. It keeps
// what the writer under it can do: Flush passes through (event streams
// need it), and Unwrap lets http.ResponseController reach the rest.
//
// A StatusRecorder belongs to one request, like the writer it wraps; it is
// not safe for concurrent use.
type StatusRecorder struct {
	http.ResponseWriter
	status int // the final status sent; 0 until one is
}

// NewStatusRecorder wraps w.
func NewStatusRecorder(w http.ResponseWriter) *StatusRecorder {
	return &StatusRecorder{ResponseWriter: w}
}

// WriteHeader records the first final status (a 1xx other than 101 is not
// final) and passes code on.
func (w *StatusRecorder) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records 200 when no status was sent before, as net/http does, and
// passes b on.
func (w *StatusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends what is buffered to the client, when the writer under it
// can.
func (w *StatusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		f.Flush()
	}
}

// Unwrap returns the writer under it, for http.ResponseController.
func (w *StatusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Wrote reports whether a status has been sent: after it, the response can
// no longer be replaced (by an error page, say).
func (w *StatusRecorder) Wrote() bool { return w.status != 0 }

// Status returns the status sent, or 200 when the handler has sent
// nothing yet (what net/http sends when a handler returns without
// writing).
func (w *StatusRecorder) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
