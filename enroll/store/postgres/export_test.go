package postgres

// AcquiredConns returns how many connections of st's pool are in use, for
// tests that check none is left behind.
func AcquiredConns(st *Store) int32 { return st.pool.Stat().AcquiredConns() }
