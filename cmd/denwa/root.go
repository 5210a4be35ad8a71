package main

import "github.com/spf13/cobra"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "denwa",
		Short: "denwa proves a person holds a phone: it calls, plays a prompt and hears 「#」",
		Long: `denwa (電話) is a self-hosted IVR engine. It places a verification call,
plays a Japanese prompt over RTP and waits for # (or * then # from analog lines),
hearing keys both as RFC 4733 telephone-events and as in-band tones.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			switch cmd.Name() {
			case "call", "phone", "serve", "demo", "dtmftest":
				mediaProcs()
			}
		},
	}
	root.AddCommand(newDetectCmd(), newCallCmd(), newPhoneCmd(), newServeCmd(), newAPIKeyCmd(), newWebhookCmd(), newDemoCmd())
	root.AddCommand(newAdminCmd(), newDTMFTestCmd())
	return root
}

// exitCoder is an error that chooses the process exit code.
type exitCoder interface {
	error
	ExitCode() int
}

// exitError carries an exit code and an optional message ("" prints nothing).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) ExitCode() int { return e.code }
