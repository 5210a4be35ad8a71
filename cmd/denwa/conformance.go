package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"denwa/audio"
	"denwa/dtmf/testplan"
)

// conformanceOptions are `denwa detect --conformance`'s flags.
type conformanceOptions struct {
	on    bool
	plan  string // a built-in plan's name or a plan file
	mode  string // inband, rfc4733, sip-info or all
	json  bool
	junit string // file to write JUnit XML to
	// channel, when set, alters the in-band audio before the detector
	// (tests use it to prove that failures are reported).
	channel func([]int16)
}

func addConformanceFlags(f *pflag.FlagSet, o *conformanceOptions) {
	f.BoolVar(&o.on, "conformance", false, "run a DTMF test plan through the built-in detectors, offline, and print one row per case (no FILE)")
	f.StringVar(&o.plan, "plan", "q24", "with --conformance: a built-in plan ("+strings.Join(testplan.BuiltinNames(), ", ")+") or a plan file (JSON)")
	f.StringVar(&o.mode, "mode", "all", "with --conformance: inband, rfc4733, sip-info or all")
	f.BoolVar(&o.json, "json", false, "with --conformance: print the report as one JSON object")
	f.StringVar(&o.junit, "junit", "", "with --conformance: also write the report as JUnit XML to this file")
}

// detectArgs: FILE... is required, except with --conformance, which takes
// none.
func detectArgs(o *conformanceOptions) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if o.on {
			if len(args) > 0 {
				return &exitError{code: exitDetectBadInput, msg: "detect: --conformance takes no FILE (it synthesizes its signals)"}
			}
			return nil
		}
		for _, name := range []string{"plan", "mode", "json", "junit"} {
			if cmd.Flags().Changed(name) {
				return &exitError{code: exitDetectBadInput, msg: "detect: --" + name + " needs --conformance"}
			}
		}
		return cobra.MinimumNArgs(1)(cmd, args)
	}
}

// ulawChannel is the in-band path of a PCMU call: each frame is encoded to
// μ-law and decoded back, as the detector hears it on a live call.
func ulawChannel(frame []int16) {
	var b [160]byte
	for len(frame) > 0 {
		n := min(len(frame), len(b))
		audio.EncodeULawTo(b[:n], frame[:n])
		audio.DecodeULawTo(frame[:n], b[:n])
		frame = frame[n:]
	}
}

// runConformance runs the plan offline and prints the report; it returns an
// exitError with code 1 when a case failed, 2 for a bad plan or flag.
func runConformance(stdout io.Writer, o conformanceOptions) error {
	bad := func(err error) error { return &exitError{code: exitDetectBadInput, msg: "detect: " + err.Error()} }
	p, err := testplan.Load(o.plan, func(name string) (io.ReadCloser, error) { return os.Open(name) })
	if err != nil {
		return bad(err)
	}
	switch testplan.Mode(o.mode) {
	case "all":
	case testplan.ModeInband, testplan.ModeRFC4733, testplan.ModeSIPInfo:
		p = p.Only(testplan.Mode(o.mode))
		if len(p.Cases) == 0 {
			return bad(fmt.Errorf("plan %s has no %s cases", p.Name, o.mode))
		}
	default:
		return bad(fmt.Errorf("--mode %q: want inband, rfc4733, sip-info or all", o.mode))
	}
	channel := ulawChannel
	if o.channel != nil {
		channel = func(f []int16) { ulawChannel(f); o.channel(f) }
	}
	r, err := testplan.Run(p, testplan.RunConfig{Channel: channel})
	if err != nil {
		return bad(err)
	}
	if o.junit != "" {
		var b bytes.Buffer
		if err := r.WriteJUnit(&b); err != nil {
			return err
		}
		if err := os.WriteFile(o.junit, b.Bytes(), 0o644); err != nil {
			return bad(err)
		}
	}
	if o.json {
		err = r.WriteJSON(stdout)
	} else {
		err = r.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	if !r.Pass() {
		return &exitError{code: exitDetectMismatch, msg: r.Summary.Line(r.Plan, r.Mode)}
	}
	return nil
}
