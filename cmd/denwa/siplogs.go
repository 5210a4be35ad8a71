package main

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// sipLibLogs takes sipgo's package-level messages (sip.RouteLibraryLogs)
// to the logger of the command that runs. sipgo keeps its default logger
// in a package variable without a lock, so main routes it once, before any
// command starts (tests never do: their Dialers and Phones give sipgo
// their own loggers), and each command that carries calls sets where the
// messages go: its own logger, the one its Dialer or Phone has.
var sipLibLogs = &forwardHandler{to: new(atomic.Pointer[slog.Logger])}

// forwardHandler hands records to the handler of the logger last set;
// without one they are dropped.
type forwardHandler struct {
	to  *atomic.Pointer[slog.Logger]      // shared with the handlers derived from it
	ops []func(slog.Handler) slog.Handler // WithAttrs and WithGroup, in order
}

// set makes l the destination of every record from now on.
func (f *forwardHandler) set(l *slog.Logger) { f.to.Store(l) }

func (f *forwardHandler) target() slog.Handler {
	l := f.to.Load()
	if l == nil {
		return nil
	}
	h := l.Handler()
	for _, op := range f.ops {
		h = op(h)
	}
	return h
}

func (f *forwardHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	l := f.to.Load()
	return l != nil && l.Handler().Enabled(ctx, lv)
}

func (f *forwardHandler) Handle(ctx context.Context, r slog.Record) error {
	if h := f.target(); h != nil {
		return h.Handle(ctx, r)
	}
	return nil
}

func (f *forwardHandler) with(op func(slog.Handler) slog.Handler) slog.Handler {
	ops := append(append(make([]func(slog.Handler) slog.Handler, 0, len(f.ops)+1), f.ops...), op)
	return &forwardHandler{to: f.to, ops: ops}
}

func (f *forwardHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return f.with(func(h slog.Handler) slog.Handler { return h.WithAttrs(as) })
}

func (f *forwardHandler) WithGroup(n string) slog.Handler {
	return f.with(func(h slog.Handler) slog.Handler { return h.WithGroup(n) })
}
