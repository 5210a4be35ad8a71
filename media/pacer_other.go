//go:build !linux

package media

import (
	"errors"
	"time"
)

func raisePriority(int) error { return errors.ErrUnsupported }

func sleepThread(d time.Duration) { time.Sleep(d) }
