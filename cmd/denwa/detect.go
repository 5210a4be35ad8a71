package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"denwa/audio"
	"denwa/dtmf"
	"denwa/media"
	"denwa/media/capture"
)

// Exit codes of `denwa detect`.
const (
	exitDetectMismatch = 1 // --expect did not match
	exitDetectBadInput = 2 // a file that is not a capture or audio, or unreadable
)

type detectOptions struct {
	format string // "lines", "digits" or "json"
	expect string
	stream string
	hasExp bool
	conf   conformanceOptions
}

func newDetectCmd() *cobra.Command {
	var o detectOptions
	cmd := &cobra.Command{
		Use:   "detect FILE...",
		Short: "find DTMF keys in recorded calls (pcap, pcapng, WAV, raw .ulaw/.alaw)",
		Long: `detect finds the DTMF keys in recorded calls, heard both as RFC 4733
telephone-events and as in-band tones, one press giving one key, and the keys
SIP INFO requests carried (application/dtmf-relay, application/dtmf).

Captures (pcap or pcapng, told apart by their first bytes, IPv4 or IPv6) are
split into RTP streams; payload types come from the SIP/SDP in the same
capture, else 0=PCMU, 8=PCMA and dynamic types whose payloads read as
telephone-events. Audio files: WAV (8 kHz mono PCM16, μ-law or A-law) and raw
G.711 named .ulaw/.ul/.pcmu or .alaw/.al/.pcma.

Output, one line per key: SECONDS KEY SOURCE STREAM, where SECONDS counts from
the start of the file, SOURCE is rfc4733, inband or sip-info, and STREAM is
ssrc=0x…/SRC->DST (or - for audio files); SIP INFO keys form one stream per
direction, sip/SRC->DST, after the RTP streams, each retransmitted request
counted once. With several files each line starts with the file name.

Exit codes: 0 done (and --expect matched), 1 --expect did not match,
2 a file could not be read as a capture or audio.

--conformance runs a DTMF test plan (--plan q24, japan, quick or a JSON
file) through the same detectors, offline, and prints one row per case; exit
0 only when every case met its expectation (see docs/dtmf.md).`,
		Example: `  denwa detect call.pcap
  denwa detect --format digits call.pcap
  denwa detect --expect '*#' call.pcap     # exit 0 only when exactly * then # was pressed
  denwa detect --format json keys.wav
  denwa detect --conformance --plan q24 --junit q24.xml`,
		Args: detectArgs(&o.conf),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.conf.on {
				return runConformance(cmd.OutOrStdout(), o.conf)
			}
			switch o.format {
			case "lines", "digits", "json":
			default:
				return &exitError{code: exitDetectBadInput, msg: fmt.Sprintf("detect: --format %q: want lines, digits or json", o.format)}
			}
			o.hasExp = cmd.Flags().Changed("expect")
			if o.hasExp {
				if _, err := dtmf.ParseKeys(o.expect); err != nil {
					return &exitError{code: exitDetectBadInput, msg: "detect: --expect: " + err.Error()}
				}
				o.expect = strings.ToUpper(o.expect)
			}
			return runDetect(cmd.OutOrStdout(), cmd.ErrOrStderr(), args, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "lines", "output: lines (SECONDS KEY SOURCE STREAM), digits (one line of keys per stream) or json (JSON lines)")
	f.StringVar(&o.expect, "expect", "", "exit 0 only if the keys found, in time order, are exactly these (e.g. '*#'; '' for none)")
	f.StringVar(&o.stream, "stream", "", "only this stream: its number in order of first packet (1, 2, …), its SSRC (0x…) or its name as printed")
	addConformanceFlags(f, &o.conf)
	return cmd
}

// detected is one key ready to print: its time from the start of the file.
type detected struct {
	at     time.Duration
	key    dtmf.Event
	stream int // index into fileResult.streams
}

type streamOut struct {
	name   string // as printed in the STREAM column
	id     media.StreamID
	sip    bool          // SIP INFO keys from id.Src to id.Dst, not an RTP stream
	offset time.Duration // from the start of the file to the stream's first packet
	keys   []dtmf.Key
}

type fileResult struct {
	streams []streamOut
	keys    []detected // in time order
}

func runDetect(stdout, stderr io.Writer, files []string, o detectOptions) error {
	defer debug.SetGCPercent(debug.SetGCPercent(detectGCPercent))
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	var failed []string
	mismatch := false
	for _, name := range files {
		res, err := detectFile(name, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "denwa: %s: %v\n", name, err)
			failed = append(failed, name)
			continue
		}
		if o.stream != "" {
			if err := res.choose(o.stream); err != nil {
				fmt.Fprintf(stderr, "denwa: %s: %v\n", name, err)
				failed = append(failed, name)
				continue
			}
		}
		prefix := ""
		if len(files) > 1 {
			prefix = name + ": "
		}
		if err := res.print(out, prefix, name, o.format); err != nil {
			return err
		}
		if o.hasExp {
			var got strings.Builder
			for _, k := range res.keys {
				got.WriteByte(byte(k.key.Key))
			}
			if got.String() != o.expect {
				mismatch = true
				fmt.Fprintf(stderr, "denwa: %s: expected keys %q, found %q\n", name, o.expect, got.String())
			}
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	switch {
	case len(failed) > 0:
		return &exitError{code: exitDetectBadInput}
	case mismatch:
		return &exitError{code: exitDetectMismatch}
	}
	return nil
}

// detectFile finds the keys of one file, by its first bytes (and, for raw
// G.711, its name). A capture cut short prints one warning and keeps the keys
// of every complete packet.
func detectFile(name string, stderr io.Writer) (*fileResult, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		p := startProgress(stderr, name, st.Size())
		defer p.stop()
		r = p.reader(f)
		if next, unmap, ok := mappedPCM16(f, st.Size(), p); ok {
			defer unmap()
			return detectMapped(next, stderr, name)
		}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	switch {
	case bytes.Equal(head, []byte("RIFF")):
		wr, err := audio.NewWAVReader(br)
		if err != nil {
			return nil, err
		}
		if wr.Format() == audio.FormatPCM16 {
			return detectAudio(readBlocks(newPCM16Reader(wr, br, r).Read), stderr, name)
		}
		return detectAudio(readBlocks(wr.Read), stderr, name)
	case looksLikeCapture(head):
		res, err := capture.Detect(br, capture.Options{})
		if res == nil {
			return nil, err
		}
		if errors.Is(err, capture.ErrCorrupt) && res.Capture.Records == 0 {
			return nil, err // corrupt from its start: nothing to show
		}
		if err != nil {
			fmt.Fprintf(stderr, "denwa: warning: %s: %v; keys of every complete packet before it are shown\n", name, err)
		}
		return captureResult(res), nil
	}
	var decode func(dst []int16, src []byte) (int, error)
	switch strings.ToLower(filepath.Ext(name)) {
	case ".ulaw", ".ul", ".mulaw", ".pcmu", ".u8":
		decode = audio.DecodeULawTo
	case ".alaw", ".al", ".pcma":
		decode = audio.DecodeALawTo
	case ".pcap", ".pcapng", ".cap":
		return nil, fmt.Errorf("not a pcap or pcapng capture (its first bytes are % x)", head)
	default:
		return nil, errors.New("not a capture (pcap, pcapng), a WAV file, or raw G.711 named .ulaw or .alaw")
	}
	raw := make([]byte, detectReadSamples)
	return detectAudio(readBlocks(func(dst []int16) (int, error) {
		n, err := io.ReadFull(br, raw[:min(len(raw), len(dst))])
		if err == io.ErrUnexpectedEOF {
			err = nil
		}
		if n > 0 {
			decode(dst, raw[:n])
		}
		return n, err
	}), stderr, name)
}

func looksLikeCapture(head []byte) bool {
	if len(head) < 4 {
		return false
	}
	switch string(head) {
	case "\xd4\xc3\xb2\xa1", "\xa1\xb2\xc3\xd4", "\x4d\x3c\xb2\xa1", "\xa1\xb2\x3c\x4d", // pcap, μs and ns, both byte orders
		"\x0a\x0d\x0d\x0a": // pcapng section header block
		return true
	}
	return head[0] == 0x1f && head[1] == 0x8b // gzip: the capture reader unpacks it
}

// detectAudio runs the in-band detector over one channel, block by block
// as next hands them out (see readBlocks).
func detectAudio(next func() ([]int16, error), stderr io.Writer, name string) (*fileResult, error) {
	det, err := dtmf.NewDetector(dtmf.Config{})
	if err != nil {
		return nil, err
	}
	var evs []dtmf.Event
	for {
		x, err := next()
		evs = det.Process(evs, x)
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, audio.ErrTruncated) {
				fmt.Fprintf(stderr, "denwa: warning: %s: %v; keys of the samples before it are shown\n", name, err)
				break
			}
			return nil, err
		}
	}
	evs = det.Flush(evs)
	res := &fileResult{streams: []streamOut{{name: "-"}}}
	for _, ev := range evs {
		res.keys = append(res.keys, detected{at: samplesToDuration(ev.Start), key: ev})
		res.streams[0].keys = append(res.streams[0].keys, ev.Key)
	}
	return res, nil
}

func samplesToDuration(n int64) time.Duration {
	return time.Duration(n) * time.Second / dtmf.SampleRate
}

func captureResult(c *capture.Result) *fileResult {
	res := &fileResult{}
	start := c.Start
	for i, s := range c.Streams {
		so := streamOut{name: streamName(s.ID), id: s.ID, offset: s.FirstSeen.Sub(start)}
		for _, k := range s.Keys {
			so.keys = append(so.keys, k.Key)
			res.keys = append(res.keys, detected{at: so.offset + k.At, key: k.Event, stream: i})
		}
		res.streams = append(res.streams, so)
	}
	// SIP INFO keys: one stream per direction, after the RTP streams.
	sipStream := map[[2]netip.AddrPort]int{}
	for _, k := range c.Info {
		i, ok := sipStream[[2]netip.AddrPort{k.Src, k.Dst}]
		if !ok {
			id := media.StreamID{Src: k.Src, Dst: k.Dst}
			i = len(res.streams)
			sipStream[[2]netip.AddrPort{k.Src, k.Dst}] = i
			res.streams = append(res.streams, streamOut{name: "sip/" + addrOrDash(k.Src) + "->" + addrOrDash(k.Dst), id: id, sip: true, offset: k.Time.Sub(start)})
		}
		res.streams[i].keys = append(res.streams[i].keys, k.Key)
		res.keys = append(res.keys, detected{at: k.Time.Sub(start), key: dtmf.Event{Key: k.Key, Source: dtmf.SourceSIPInfo, End: k.Duration}, stream: i})
	}
	slices.SortStableFunc(res.keys, func(a, b detected) int { return int(a.at - b.at) })
	return res
}

// streamName is the STREAM column: one token naming the SSRC and addresses.
func streamName(id media.StreamID) string {
	s := fmt.Sprintf("ssrc=0x%08x", id.SSRC)
	if id.Src.IsValid() || id.Dst.IsValid() {
		s += "/" + addrOrDash(id.Src) + "->" + addrOrDash(id.Dst)
	}
	return s
}

func addrOrDash(a interface {
	IsValid() bool
	String() string
}) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

// choose keeps only the stream sel names: its 1-based number, its SSRC or its name.
func (r *fileResult) choose(sel string) error {
	idx := -1
	if n, err := strconv.Atoi(sel); err == nil && n >= 1 && n <= len(r.streams) && !strings.HasPrefix(sel, "0x") {
		idx = n - 1
	} else {
		ssrc, serr := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(sel), "0x"), 16, 32)
		for i, s := range r.streams {
			if s.name == sel || (serr == nil && strings.HasPrefix(strings.ToLower(sel), "0x") && s.id.SSRC == uint32(ssrc) && s.name != "-" && !s.sip) {
				idx = i
				break
			}
		}
	}
	if idx < 0 {
		names := make([]string, len(r.streams))
		for i, s := range r.streams {
			names[i] = fmt.Sprintf("%d=%s", i+1, s.name)
		}
		return fmt.Errorf("no stream %q (streams: %s)", sel, strings.Join(names, " "))
	}
	keys := r.keys[:0]
	for _, k := range r.keys {
		if k.stream == idx {
			k.stream = 0
			keys = append(keys, k)
		}
	}
	r.keys, r.streams = keys, r.streams[idx:idx+1]
	return nil
}

type jsonKey struct {
	File     string  `json:"file"`
	Seconds  float64 `json:"seconds"`
	Key      string  `json:"key"`
	Source   string  `json:"source"`
	Stream   string  `json:"stream"`
	SSRC     *uint32 `json:"ssrc,omitempty"`
	Src      string  `json:"src,omitempty"`
	Dst      string  `json:"dst,omitempty"`
	Duration float64 `json:"duration_ms"`
}

func (r *fileResult) print(w *bufio.Writer, prefix, file, format string) error {
	switch format {
	case "digits":
		for _, s := range r.streams {
			fmt.Fprintf(w, "%s%s\n", prefix, keysString(s.keys))
		}
	case "json":
		enc := json.NewEncoder(w)
		for _, k := range r.keys {
			s := r.streams[k.stream]
			j := jsonKey{
				File: file, Seconds: roundMillis(k.at), Key: k.key.Key.String(), Source: k.key.Source.String(),
				Stream: s.name, Duration: float64(k.key.Duration()) * 1000 / dtmf.SampleRate,
			}
			if s.name != "-" {
				if !s.sip {
					ssrc := s.id.SSRC
					j.SSRC = &ssrc
				}
				if s.id.Src.IsValid() {
					j.Src = s.id.Src.String()
				}
				if s.id.Dst.IsValid() {
					j.Dst = s.id.Dst.String()
				}
			}
			if err := enc.Encode(j); err != nil {
				return err
			}
		}
	default:
		for _, k := range r.keys {
			fmt.Fprintf(w, "%s%.3f %s %s %s\n", prefix, k.at.Seconds(), k.key.Key, k.key.Source, r.streams[k.stream].name)
		}
	}
	return nil
}

func roundMillis(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}

func keysString(ks []dtmf.Key) string {
	b := make([]byte, len(ks))
	for i, k := range ks {
		b[i] = byte(k)
	}
	return string(b)
}
