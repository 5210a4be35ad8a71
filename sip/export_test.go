package sip

// RTPPortsInUse exposes the dialer's RTP port pool count to the external
// tests (package sip_test: leak_test.go, hostile_test.go), which cannot
// reach d.pool and must live outside package sip to import siptest.
func RTPPortsInUse(d *Dialer) int { return d.pool.InUse() }

// WaitGoroutines is waitGoroutines (loop_test.go), for the leak checks of
// package sip_test.
var WaitGoroutines = waitGoroutines
