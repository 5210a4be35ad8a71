package main

import (
	"context"
	"fmt"
	"os"

	"denwa/cmd/denwa/internal/config"
	"denwa/enroll"
	"denwa/enroll/store/postgres"
	"denwa/enroll/store/sqlite"
)

// openedStore is a store serve and the operators' commands open, and
// close when done: SQLite or PostgreSQL.
type openedStore interface {
	enroll.Store
	Close() error
}

// openStore opens the store the setting names: a postgres:// or
// postgresql:// URL is a PostgreSQL database (its schema brought up to
// date, under an advisory lock when several nodes start together), any
// other text a SQLite file, which is created only when create is set.
func openStore(ctx context.Context, target string, create bool) (openedStore, error) {
	if config.PostgresURL(target) {
		return postgres.Open(ctx, target, postgres.Options{})
	}
	if !create {
		if _, err := os.Stat(target); err != nil {
			return nil, err
		}
	}
	return sqlite.Open(ctx, target, sqlite.Options{})
}

// withStore opens the store target for fn, and closes it after; a store
// that cannot be opened is a usage error (exit 2) of the command what
// ("apikey"). create says whether a missing SQLite file may be created.
func withStore(ctx context.Context, what, target string, create bool, fn func(context.Context, enroll.Store) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	st, err := openStore(ctx, target, create)
	if err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("%s: store %s: %v", what, config.RedactStore(target), err)}
	}
	err = fn(ctx, st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}
