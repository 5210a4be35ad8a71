package httpx

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Error is a front door's failure to answer a request: Code is the HTTP
// status, Msg the text shown to the person (already in the page's
// language), Err the cause, which is logged and never shown.
type Error struct {
	Code int
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("http %d: %v", e.Code, e.Err)
	}
	return fmt.Sprintf("http %d: %s", e.Code, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorOf returns err as an *Error to answer with: err itself when it is
// one (or wraps one), else a 500 showing internal (the page's "something
// went wrong") with err as its cause.
func ErrorOf(err error, internal string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: http.StatusInternalServerError, Msg: internal, Err: err}
}

// Level is how loud the log record of e is: Error for a 5xx (ours to
// fix), Info for the rest (the client's).
func (e *Error) Level() slog.Level {
	if e.Code >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}
