//go:build linux

package media

import (
	"syscall"
	"time"
)

// raisePriority sets the calling thread's niceness.
func raisePriority(nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}

// sleepThread sleeps on the calling (locked) thread, so that it wakes at
// the deadline at its own priority rather than when some other thread
// gets around to the runtime's timers.
func sleepThread(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
