//go:build linux

package media

import (
	"syscall"
	"time"
	"unsafe"
)

const (
	schedOther = 0
	schedFIFO  = 1
)

// raisePriority gives the calling thread the lowest real-time priority
// (SCHED_FIFO 1) or, where that is not permitted, niceness nice.
func raisePriority(nice int) (threadPriority, error) {
	if setScheduler(schedFIFO, 1) == nil {
		return priorityRealtime, nil
	}
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice); err != nil {
		return priorityNormal, err
	}
	return priorityNice, nil
}

// lowerPriority puts the calling thread back under the normal scheduler,
// at niceness nice where permitted.
func lowerPriority(nice int) {
	setScheduler(schedOther, 0)
	syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}

func setScheduler(policy, prio int) error {
	p := int32(prio) // struct sched_param
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, uintptr(syscall.Gettid()), uintptr(policy), uintptr(unsafe.Pointer(&p)))
	if e != 0 {
		return e
	}
	return nil
}

// sleepThread sleeps on the calling (locked) thread, so that it wakes at
// the deadline at its own priority rather than when some other thread
// gets around to the runtime's timers.
func sleepThread(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
