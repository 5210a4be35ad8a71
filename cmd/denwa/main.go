// Command denwa is the denwa IVR engine: it proves a person holds a phone by
// calling it and hearing 「#」, and it finds DTMF keys in recorded calls.
//
// This package is the only place that wires denwa's packages together.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the process exit code.
func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ec exitCoder
	if asExitCoder(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "denwa:", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "denwa:", err)
	return 2
}
