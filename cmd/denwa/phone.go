package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"denwa/audio"
	"denwa/cmd/denwa/internal/config"
	"denwa/dtmf"
	"denwa/media"
	"denwa/sip"
)

type phoneOptions struct {
	rtp                                              config.RTP // the flags phone shares with call and serve
	guard                                            config.SIPGuard
	listen, network, user, keys, mode                string
	prompts, language                                string // the digit prompts it listens for
	ring, keyDelay, keyGap, keyDuration, hangupAfter time.Duration
	status, calls                                    int
	eventPT                                          uint8
	silent, verbose                                  bool
	report                                           bool   // --report (phone_report.go)
	reportFile                                       string // --report-file
}

func newPhoneCmd() *cobra.Command {
	o := phoneOptions{rtp: config.DefaultPhoneRTP(), guard: config.DefaultPhoneSIPGuard()}
	cmd := &cobra.Command{
		Use:   "phone",
		Short: "a simulated phone: answers calls and presses keys (in-band, RFC 4733 or SIP INFO)",
		Long: `phone is a SIP endpoint that stands in for a user's telephone: it listens on an
address, rings for a while (or refuses with a given status), answers, and
presses the given keys as in-band DTMF tones in its G.711 audio, as RFC 4733
telephone-events or as SIP INFO requests (application/dtmf-relay, Duration from
--key-duration), at the given times. It can also hang up early or
answer and stay silent. It prints one line per call when the call ends.

It is what denwa demo and the tests call, and what a test bench uses to check
a PBX route end to end. With --report it is the far end of denwa dtmftest: it
hears every key the caller sends (in-band, RFC 4733, SIP INFO) with its time
and measured length, prints them after each call, and hands them to dtmftest
in the dialog (--report-file also writes them to a file).`,
		Example: `  denwa phone --listen 127.0.0.1:5070 --keys '#'
  denwa phone --listen 127.0.0.1:5070 --keys '*#' --mode inband --codec pcma
  denwa phone --listen 127.0.0.1:5070 --keys '#' --mode sip-info
  denwa phone --listen 127.0.0.1:5070 --keys '{code}#'             # challenge mode: the code it hears, then #
  denwa phone --listen 127.0.0.1:5070 --ring 3s --status 486      # busy
  denwa phone --listen 127.0.0.1:5070 --hangup-after 2s           # hangs up during the greeting
  denwa phone --listen 127.0.0.1:5070 --report                    # the far end of denwa dtmftest`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.report && !cmd.Flags().Changed("keys") {
				o.keys = "" // the far end of a DTMF test listens
			}
			return runPhone(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:5070", "SIP address ip:port to listen on (port 0 picks a free one)")
	f.StringVar(&o.network, "network", "udp", "udp or tcp")
	f.StringVar(&o.user, "user", "", "answer only calls to this Request-URI user (others get 404)")
	f.StringVar(&o.keys, "keys", "#", "keys to press after answering, e.g. '#', '*#', '0#' ('' for none); {code} is the challenge code it heard the caller read out: '{code}#', '*{code}#'")
	f.StringVar(&o.prompts, "prompts", "", "with {code}: the caller's prompt directory, to hear its digit prompts (default: the shipped ones)")
	f.StringVar(&o.language, "prompt-language", audio.LangJapanese, "with {code}: the language the caller reads the code in: ja or en")
	f.StringVar(&o.mode, "mode", "rfc4733", "how keys are pressed: rfc4733, inband or sip-info (SIP INFO requests, application/dtmf-relay)")
	config.BindRTPFlags(f, &o.rtp)
	config.BindSIPGuardFlags(f, &o.guard)
	f.DurationVar(&o.ring, "ring", 0, "send 180 Ringing this long before answering (negative: ring until the caller gives up)")
	f.IntVar(&o.status, "status", 0, "refuse every call with this final status instead of answering (486 busy, 603 decline, 503, …)")
	f.DurationVar(&o.keyDelay, "key-delay", time.Second, "wait from answer to the first key")
	f.DurationVar(&o.keyGap, "key-gap", 200*time.Millisecond, "silence between keys")
	f.DurationVar(&o.keyDuration, "key-duration", 120*time.Millisecond, "length of each key press")
	f.DurationVar(&o.hangupAfter, "hangup-after", 0, "hang up this long after answering (0: wait for the caller)")
	f.Uint8Var(&o.eventPT, "event-pt", 0, "answer telephone-event with this payload type (0: the caller's)")
	f.BoolVar(&o.silent, "silent", false, "answer but send no RTP and press nothing")
	f.IntVar(&o.calls, "calls", 0, "exit after this many calls (0: run until interrupted)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log SIP and media events to stderr")
	f.BoolVar(&o.report, "report", false, "the far end of denwa dtmftest: hear every key (in-band, RFC 4733, SIP INFO) with its time and length, print them per call and answer dtmftest's request for the report (presses no keys unless --keys is given)")
	f.StringVar(&o.reportFile, "report-file", "", "with --report: also write each call's report (JSON) to this file, for dtmftest --far-report")
	return cmd
}

func runPhone(ctx context.Context, stdout, stderr io.Writer, o phoneOptions) error {
	usage := func(err error) error { return &exitError{code: 2, msg: "phone: " + err.Error()} }
	var digits [10]*audio.Prompt
	if strings.Contains(o.keys, sip.CodeKeys) {
		prompts, err := loadPrompts(o.prompts, o.language)
		if err != nil {
			return usage(err)
		}
		if digits, err = digitPrompts(prompts); err != nil {
			return usage(err)
		}
	} else if _, err := dtmf.ParseKeys(o.keys); err != nil {
		return usage(fmt.Errorf("--keys: %w", err))
	}
	var mode sip.KeyMode
	switch o.mode {
	case "rfc4733", "rfc2833", "events":
		mode = sip.KeyRFC4733
	case "inband", "tones":
		mode = sip.KeyInband
	case "sip-info", "info":
		mode = sip.KeySIPInfo
	default:
		return usage(fmt.Errorf("--mode %q: want rfc4733, inband or sip-info", o.mode))
	}
	codecs, err := o.rtp.PayloadKinds()
	if err != nil {
		return usage(fmt.Errorf("--codec %w", err))
	}
	srtp, err := o.rtp.SRTPMode()
	if err != nil {
		return usage(fmt.Errorf("--srtp %w", err))
	}
	if o.status != 0 && (o.status < 300 || o.status > 699) {
		return usage(fmt.Errorf("--status %d: want a final status from 300 to 699", o.status))
	}
	guard, err := o.guard.PhoneGuard()
	if err != nil {
		return usage(err)
	}
	if o.reportFile != "" && !o.report {
		return usage(errors.New("--report-file needs --report"))
	}
	if o.report && srtp != media.SRTPOff {
		return usage(errors.New("--report hears keys in plain RTP only: use --srtp off"))
	}
	log := newLogger(stderr, o.verbose)
	reports := make(chan sip.PhoneCall, 64)
	var heard phoneReports
	var hear func(sip.PhoneCall) sip.Hearing
	if o.report {
		hear = func(pc sip.PhoneCall) sip.Hearing {
			return newReportHearing(pc, o.reportFile, heard.put, heard.fail(stderr))
		}
	}
	phone, err := sip.NewPhone(sip.PhoneConfig{
		Network: o.network, Listen: o.listen, User: o.user, RingFor: o.ring, Status: o.status,
		Keys: o.keys, KeyMode: mode, KeyDelay: o.keyDelay, KeyGap: o.keyGap, KeyDuration: o.keyDuration,
		HangupAfter: o.hangupAfter, Silent: o.silent, Codecs: codecs, EventPT: o.eventPT, Digits: digits, SRTP: srtp,
		RTPPortFirst: o.rtp.RTPPorts.First, RTPPortLast: o.rtp.RTPPorts.Last, Calls: reports, Logger: log, Guard: guard,
		Hear: hear,
	})
	if err != nil {
		return usage(err)
	}
	defer phone.Close()
	if phone.KeysInClear() && !o.verbose { // verbose: logged already
		fmt.Fprintln(stderr, "warning: "+sip.ClearKeysWarning)
	}
	ctx, cancel := signalContext(ctx)
	defer cancel()
	fmt.Fprintf(stdout, "phone listening on %s (%s): %s\n", phone.URI(), o.network, describePhone(o))
	served := make(chan error, 1)
	go func() { served <- phone.Serve(ctx) }()
	n := 0
	for {
		select {
		case pc := <-reports:
			n++
			line := fmt.Sprintf("call %d from %s: %s status %d", n, pc.From, pc.Outcome, pc.Status)
			if pc.Codec != 0 {
				line += " codec " + pc.Codec.String()
			}
			if pc.SRTP != 0 {
				line += " srtp " + pc.SRTP.String()
			}
			line += fmt.Sprintf(" keys %q %.1fs", pc.KeysSent, pc.End.Sub(pc.Start).Seconds())
			if pc.Err != nil {
				line += " (" + pc.Err.Error() + ")"
			}
			fmt.Fprintln(stdout, line)
			if r, ok := heard.take(pc.CallID); ok {
				printFarReport(stdout, r)
			}
			if o.calls > 0 && n >= o.calls {
				cancel()
				<-served
				return nil
			}
		case err := <-served:
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		}
	}
}

func describePhone(o phoneOptions) string {
	switch {
	case o.status != 0:
		return fmt.Sprintf("refuses with %d", o.status)
	case o.silent:
		return "answers and stays silent"
	case o.report && o.keys == "":
		return "answers and reports the keys it hears"
	case o.keys == "":
		return "answers and presses nothing"
	}
	return fmt.Sprintf("answers and presses %q (%s)", o.keys, o.mode)
}
