// Command denwa is the denwa IVR engine: it proves a person holds a phone by
// calling it and hearing 「#」, and it finds DTMF keys in recorded calls.
//
// This package is the only place that wires denwa's packages together.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"

	"denwa/sip"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func main() {
	sip.RouteLibraryLogs(slog.New(sipLibLogs)) // once, before any command (siplogs.go)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// mediaProcs gives the Go runtime twice its default number of Ps, once
// and unless GOMAXPROCS is set. The commands that carry calls (call,
// phone, serve, demo) call it: the media pacer's real-time threads (see
// media.PacerConfig) need a free P the moment they wake, and with only as
// many Ps as cores a busy runtime keeps them waiting. Idle Ps cost
// nothing.
func mediaProcs() {
	procsOnce.Do(func() {
		if os.Getenv("GOMAXPROCS") == "" {
			runtime.GOMAXPROCS(2 * runtime.GOMAXPROCS(0))
		}
	})
}

var procsOnce sync.Once

// lookupEnv is the real environment.
func lookupEnv(k string) (string, bool) { return os.LookupEnv(k) }

// run executes the command line and returns the process exit code: the
// command's own code for an exitCoder error, 2 for any other error.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ec exitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, "denwa:", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(stderr, "denwa:", err)
	return 2
}
