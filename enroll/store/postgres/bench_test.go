package postgres_test

import (
	"testing"

	"denwa/enroll"
	"denwa/enroll/store/postgres"
	"denwa/enroll/store/postgres/pgtest"
	"denwa/enroll/store/storetest"
)

// The PostgreSQL store is measured as two nodes, two stores (two pools)
// on one database of the pgtest cluster, which runs with fsync off: the
// numbers are those of the store and the round trips, not of a disk.

func BenchmarkCreateEnrollment(b *testing.B) {
	storetest.BenchCreateEnrollment(b, openBenchNodes(b)...)
}

func BenchmarkStartCall(b *testing.B) {
	storetest.BenchStartCall(b, openBenchNodes(b)...)
}

func openBenchNodes(b *testing.B) []enroll.Store {
	url := pgtest.URL(b)
	var stores []enroll.Store
	for range 2 {
		st, err := postgres.Open(b.Context(), url, postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	return stores
}
