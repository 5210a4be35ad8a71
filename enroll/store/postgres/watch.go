package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// WatchApplicationName is the application_name of a watcher's connection,
// as pg_stat_activity shows it.
const WatchApplicationName = "denwa-watch"

// WatchEnrollments implements enroll.Watcher. It holds a connection of its
// own, outside the pool, that LISTENs on the enrollments' channel. When
// that connection fails it connects again, waiting longer each time up to
// Options.ReconnectDelay, and once it listens again it calls changed("").
// It ends when ctx ends or the Store is closed; Close waits for it, and so
// for a call of changed in progress.
func (s *Store) WatchEnrollments(ctx context.Context, changed func(id string)) error {
	// Counted from the start, so that Close waits for a watcher still
	// connecting too.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("postgres: watch enrollments: the store is closed")
	}
	s.watchers.Add(1)
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closing, cancel)
	conn, err := s.listen(ctx)
	if err != nil {
		stop()
		cancel()
		s.watchers.Done()
		return mapErr(ctx, err, "watch enrollments")
	}
	go func() {
		defer s.watchers.Done()
		defer stop()
		defer cancel()
		s.watch(ctx, conn, changed)
	}()
	return nil
}

// listen opens a watcher's connection and LISTENs on it.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.conn.Copy()
	cfg.RuntimeParams["application_name"] = WatchApplicationName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+notifyChannel); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// watch delivers the notifications of conn until ctx ends, connecting again
// when conn fails.
func (s *Store) watch(ctx context.Context, conn *pgx.Conn, changed func(id string)) {
	closeConn := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err == nil {
			changed(n.Payload)
			continue
		}
		closeConn()
		if ctx.Err() != nil {
			return
		}
		if conn = s.relisten(ctx); conn == nil {
			return
		}
		changed("")
	}
}

// relisten connects again, waiting between attempts from 50 ms up to
// s.reconnect; it gives nil once ctx ends.
func (s *Store) relisten(ctx context.Context) *pgx.Conn {
	pause := 50 * time.Millisecond
	for {
		conn, err := s.listen(ctx)
		if err == nil {
			return conn
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		pause = min(2*pause, s.reconnect)
	}
}
