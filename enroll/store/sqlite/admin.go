package sqlite

import (
	"context"
	"database/sql"

	"denwa/enroll"
	"denwa/enroll/store/internal/storesql"
)

// The operators' view: the lists the admin API pages through, newest
// first, and the operator events. The queries are storesql's, shared with
// the PostgreSQL store.

// lister is the Store's storesql.Lister.
func (s *Store) lister() storesql.Lister {
	return storesql.Lister{
		Query: func(ctx context.Context, q storesql.List) (storesql.Rows, func(), error) {
			rows, err := s.r.QueryContext(ctx, q.SQL, q.Args...)
			if err != nil {
				return nil, nil, err
			}
			return rows, func() { rows.Close() }, nil
		},
		Err: func(_ context.Context, err error, what string) error { return mapErr(err, what) },
	}
}

// LiftBlock implements enroll.Store.
func (s *Store) LiftBlock(ctx context.Context, phone string, ev enroll.OperatorEvent) (enroll.BlockedNumber, error) {
	var b enroll.BlockedNumber
	err := s.tx(ctx, func(tx *sql.Tx) (err error) {
		b, err = storesql.LiftBlock(txn{ctx, tx}, phone, ev)
		return err
	})
	if err != nil {
		return enroll.BlockedNumber{}, mapErr(err, "lift block")
	}
	return b, nil
}

// AppendOperatorEvent implements enroll.Store.
func (s *Store) AppendOperatorEvent(ctx context.Context, ev enroll.OperatorEvent) error {
	err := s.tx(ctx, func(tx *sql.Tx) error { return storesql.AppendOperatorEvent(txn{ctx, tx}, ev) })
	return mapErr(err, "append operator event")
}
