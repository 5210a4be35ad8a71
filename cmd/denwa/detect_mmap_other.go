//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import (
	"io"
	"os"
)

// mappedPCM16 maps nothing on this system: `denwa detect` reads files.
func mappedPCM16(*os.File, int64, *progress) (func() ([]int16, error), func(), bool) {
	return nil, nil, false
}

// detectMapped is never called here (mappedPCM16 maps nothing).
func detectMapped(next func() ([]int16, error), stderr io.Writer, name string) (*fileResult, error) {
	return detectAudio(next, stderr, name)
}
