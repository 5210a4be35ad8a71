package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"denwa/enroll"
	"denwa/enroll/store/internal/storesql"
)

// The operators' view: the lists the admin API pages through, newest
// first, and the operator events. The queries are storesql's, shared with
// the SQLite store.

// lister is the Store's storesql.Lister.
func (s *Store) lister() storesql.Lister {
	return storesql.Lister{
		Query: func(ctx context.Context, q storesql.List) (storesql.Rows, func(), error) {
			rows, err := s.pool.Query(ctx, storesql.Dollar(q.SQL), q.Args...)
			return rows, func() { rows.Close() }, err
		},
		Err: mapErr,
	}
}

// LiftBlock implements enroll.Store.
func (s *Store) LiftBlock(ctx context.Context, phone string, ev enroll.OperatorEvent) (enroll.BlockedNumber, error) {
	var b enroll.BlockedNumber
	err := s.tx(ctx, func(tx pgx.Tx) (err error) {
		b, err = storesql.LiftBlock(txn{ctx, tx}, phone, ev)
		return err
	})
	if err != nil {
		return enroll.BlockedNumber{}, mapErr(ctx, err, "lift block")
	}
	return b, nil
}

// AppendOperatorEvent implements enroll.Store.
func (s *Store) AppendOperatorEvent(ctx context.Context, ev enroll.OperatorEvent) error {
	err := s.tx(ctx, func(tx pgx.Tx) error { return storesql.AppendOperatorEvent(txn{ctx, tx}, ev) })
	return mapErr(ctx, err, "append operator event")
}
