package sqlite_test

import (
	"path/filepath"
	"testing"

	"denwa/enroll/store/sqlite"
	"denwa/enroll/store/storetest"
)

// The SQLite store is one node's: one store, its file in a temporary
// directory (compare with the PostgreSQL store's benchmarks, two nodes).

func BenchmarkCreateEnrollment(b *testing.B) {
	st := openBench(b)
	storetest.BenchCreateEnrollment(b, st)
}

func BenchmarkStartCall(b *testing.B) {
	st := openBench(b)
	storetest.BenchStartCall(b, st)
}

func openBench(b *testing.B) *sqlite.Store {
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "denwa.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}
