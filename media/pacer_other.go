//go:build !linux

package media

import (
	"errors"
	"time"
)

func raisePriority(int) (threadPriority, error) { return priorityNormal, errors.ErrUnsupported }

func lowerPriority(int) {}

func sleepThread(d time.Duration) { time.Sleep(d) }
