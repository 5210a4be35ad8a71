package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newDetectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "detect FILE...",
		Short: "find DTMF keys in recorded calls (pcap, pcapng, WAV, raw .ulaw/.alaw)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("detect: not built yet")
		},
	}
}
