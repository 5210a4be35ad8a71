package sip

// SyncBuffer is logmask_test.go's log sink, safe for the goroutines that
// log into it, for the SRTP tests of package sip_test.
type SyncBuffer = syncBuffer
