package sip

import (
	"context"
	"log/slog"
	"sync"

	sipgo_sip "github.com/emiago/sipgo/sip"
)

// sipgo logs its connection bookkeeping on a package logger of its own
// (sip.DefaultLogger, slog.Default() unless set), not on the loggers given
// to a user agent: TCP and TLS reference counts and, at Warn, "TCP ref went
// negative". In sipgo v1.7.3 that warning follows every TCP or TLS
// connection still open when a user agent closes: UserAgent.Close clears
// the connection pool, which hard-closes each connection
// (TCPConnection.Close sets its count to 0), and the connection's read
// goroutine then wakes with net.ErrClosed and releases its own reference
// on the way out (ConnectionPool.CloseAndDelete → TryClose), taking the
// count to -1. Nothing leaks and nothing is closed twice; it is noise at
// every Close of a Dialer or Phone over TCP or TLS.
//
// routeSipgoLog, run before the first user agent is made, sends that
// package logger through libLogger (values cut, messages rate-limited) to
// slog.Default() — as it is when each line is logged — at Debug, whatever
// level sipgo used. (Not to a command's logger: sipgo's connection
// goroutines outlive the user agents and log after the command returns.)
var routeSipgoLog = sync.OnceFunc(func() {
	sipgo_sip.SetDefaultLogger(libLogger(slog.New(debugHandler{})))
})

// debugHandler hands records to slog.Default()'s handler at Debug; with
// attrs or a group, to that handler as it was when they were added.
type debugHandler struct{ h slog.Handler }

func (d debugHandler) handler() slog.Handler {
	if d.h != nil {
		return d.h
	}
	return slog.Default().Handler()
}

func (d debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.handler().Enabled(ctx, slog.LevelDebug)
}

func (d debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.handler().Handle(ctx, r)
}

func (d debugHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return debugHandler{d.handler().WithAttrs(as)}
}

func (d debugHandler) WithGroup(n string) slog.Handler { return debugHandler{d.handler().WithGroup(n)} }
