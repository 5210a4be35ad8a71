package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"denwa/audio"
	"denwa/dtmf"
	"denwa/enroll"
	"denwa/media"
	"denwa/media/mediatest"
	"denwa/sip"
)

// TestLoadSipp is the load harness: N verification calls from denwa's load
// runner (the code of `denwa call --calls`) to sipp as the far end on
// loopback (testdata/sipp/uas-load.xml). sipp answers every call and
// plays silence with one #: as RFC 4733 events for even calls (index 0, 2,
// …), as in-band tones for odd ones. Each call is the full dialogue
// (greeting, barge-in on #, closing prompt, BYE).
//
// The two halves use different sipp engines. The RFC 4733 half replays a
// pcap with play_pcap_audio, the only way sipp sends telephone-events; it
// needs root and opens a raw socket (and a thread) per playing call. The
// in-band half streams generated μ-law with rtp_stream: plain UDP sends
// from sipp's media socket by a pool of threads (20 streams each), and no
// raw socket. Raw sockets are not free for the rest of the machine: the
// kernel hands every UDP packet, denwa's included, to every open raw UDP
// socket. At 200 calls/s with the pcap engine for every call, ~400 were
// open and a sendto cost twice as much (4.0 → 7.8 µs), a bench artifact
// charged to denwa; with the in-band half streamed, ~200 are. Unlike real
// phones, and unlike play_pcap_audio, rtp_stream sends the packets of all
// its streams together on one 20 ms grid.
//
// Without environment it is a correctness test at a small scale (50 calls,
// 25 new calls a second): every call verified with the keys "#", none lost
// or doubled, and sipp counts every call successful. For the full-scale
// measurement:
//
//	DENWA_LOAD_CALLS=6000 DENWA_LOAD_RATE=200 go test ./cmd/denwa -run TestLoadSipp -v -timeout 20m
//
// DENWA_LOAD_HOLD (default 1s) is where the # sits in sipp's stream, from
// the answer; it sets how long calls last, so with the closing prompt
// (about 4 s) rate × (hold + 4 s) calls are active at once.
// DENWA_LOAD_CAPTURE=DELAY,LENGTH captures our RTP at sipp's media port
// for LENGTH from DELAY after the first call (default: the whole run below
// 500 calls, else 10s,5s; "off" for none).
//
// It skips without sipp, dumpcap or root, and fails instead when
// DENWA_REQUIRE_INTEROP=1.
func TestLoadSipp(t *testing.T) {
	sippPath := mediatest.RequireTool(t, "sipp")
	timeoutPath := mediatest.RequireTool(t, "timeout")
	mediatest.RequireRoot(t, "sipp's play_pcap_audio (a raw socket)")

	calls := envInt(t, "DENWA_LOAD_CALLS", 50)
	rate := float64(envInt(t, "DENWA_LOAD_RATE", 25))
	hold := envDuration(t, "DENWA_LOAD_HOLD", time.Second)
	if calls < 2 || calls > 20000 || rate <= 0 || rate > 1000 {
		t.Fatalf("DENWA_LOAD_CALLS %d / DENWA_LOAD_RATE %v out of range", calls, rate)
	}
	// Every loop is bounded: launching takes calls/rate, each call lasts
	// hold + the closing prompt; the limit allows generous slack.
	limit := time.Duration(float64(calls)/rate*float64(time.Second)) + hold + 60*time.Second

	dir := t.TempDir()
	const sippRTP = 29000 // sipp's media port (and +2): below the default RTP ranges (sip.DefaultRTPPortFirst, 30000), which other tests draw from at the same time
	rtpFirst, rtpLast := 40000, 40000+2*min(calls, int(rate*(hold.Seconds()+10)))+400
	rtpLast = min(rtpLast, 59999)

	// What sipp plays: silence with one # at hold. The RFC 4733 half is a
	// pcap for play_pcap_audio; the in-band half is the audio of the same
	// generated stream, raw μ-law for rtp_stream, with silence after the key
	// for the rest of the call (sipp stops it at the BYE).
	stream := func(mode mediatest.Mode, length time.Duration) mediatest.Stream {
		return mediatest.Stream{SSRC: 0x6c6f6164, Src: netip.MustParseAddrPort("127.0.0.1:6000"), Dst: netip.MustParseAddrPort("127.0.0.1:6002"),
			AudioPT: mediatest.PCMU, EventPT: 101, Seq: 1000, Timestamp: 8000, Duration: length,
			Presses: []mediatest.Press{{Key: '#', At: hold, Dur: 100 * time.Millisecond, Mode: mode}}}
	}
	pcapPath := filepath.Join(dir, "rfc4733.pcap")
	var pcap bytes.Buffer
	if err := (mediatest.Capture{Streams: []mediatest.Stream{stream(mediatest.RFC4733, hold+500*time.Millisecond)}}).WriteTo(&pcap, mediatest.CaptureOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pcapPath, pcap.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ulawPath := filepath.Join(dir, "inband.ulaw")
	if err := os.WriteFile(ulawPath, ulawAudio(t, stream(mediatest.Inband, hold+inbandTail)), 0o644); err != nil {
		t.Fatal(err)
	}
	scen, err := os.ReadFile("../../testdata/sipp/uas-load.xml")
	if err != nil {
		t.Fatal(err)
	}
	scen = bytes.ReplaceAll(scen, []byte("@PCAP_RFC4733@"), []byte(pcapPath))
	scen = bytes.ReplaceAll(scen, []byte("@STREAM_INBAND@"), []byte(ulawPath))
	scenFile := filepath.Join(dir, "uas-load.xml")
	if err := os.WriteFile(scenFile, scen, 0o644); err != nil {
		t.Fatal(err)
	}

	// sipp, bounded by its own -timeout and by timeout(1), killed on exit.
	sipPort := freeUDPPort(t)
	secs := int(limit.Seconds())
	var sippOut bytes.Buffer
	sipp := exec.Command(timeoutPath, "-s", "KILL", strconv.Itoa(secs+20), sippPath, "-sf", scenFile,
		"-i", "127.0.0.1", "-p", strconv.Itoa(sipPort), "-mi", "127.0.0.1", "-mp", strconv.Itoa(sippRTP),
		"-m", strconv.Itoa(calls), "-timeout", fmt.Sprintf("%ds", secs+10), "-nostdin", "-trace_err",
		"-error_file", filepath.Join(dir, "sipp-errors.log"))
	sipp.Dir = dir
	sipp.Stdout, sipp.Stderr = &sippOut, &sippOut
	// Its own process group, so that killing it kills sipp under timeout(1)
	// too; and Wait stops waiting for output a few seconds after the kill.
	sipp.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	sipp.WaitDelay = 5 * time.Second
	if err := sipp.Start(); err != nil {
		t.Fatal(err)
	}
	sippDone := make(chan error, 1)
	go func() { sippDone <- sipp.Wait() }()
	t.Cleanup(func() {
		select {
		case <-sippDone:
		default:
			syscall.Kill(-sipp.Process.Pid, syscall.SIGKILL)
			<-sippDone
		}
	})
	waitUDPBound(t, sipPort, sippDone, &sippOut)

	// The capture of our RTP at sipp's media port.
	capDelay, capLen := time.Duration(0), limit
	if calls >= 500 {
		capDelay, capLen = 10*time.Second, 5*time.Second
	}
	capture := os.Getenv("DENWA_LOAD_CAPTURE")
	if d, l, ok := strings.Cut(capture, ","); ok {
		var err1, err2 error
		capDelay, err1 = time.ParseDuration(d)
		capLen, err2 = time.ParseDuration(l)
		if err1 != nil || err2 != nil {
			t.Fatalf("DENWA_LOAD_CAPTURE=%q: want DELAY,LENGTH such as 10s,5s", capture)
		}
	}
	var capRun *dumpcapRun
	if capture != "off" {
		capRun = &dumpcapRun{path: filepath.Join(dir, "rtp.pcap"), port: sippRTP, delay: capDelay, length: capLen}
		capRun.start(t)
	}

	// The runtime as `denwa call` runs it (before the dialer's pacer sizes
	// its shards).
	mediaProcs()
	prompts, err := audio.LoadCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := sip.NewDialer(sip.Config{Trunk: fmt.Sprintf("sip:127.0.0.1:%d", sipPort), Bind: "127.0.0.1:0",
		RTPPortFirst: rtpFirst, RTPPortLast: rtpLast, RingTimeout: 10 * time.Second, MaxDuration: time.Minute,
		Logger: newLogger(nil, false)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	spec := loadSpec{Calls: calls, Rate: rate, Limit: limit, Dialers: []*sip.Dialer{d}, Prompts: prompts,
		Number: func(i int) string {
			if i%2 == 0 {
				return "+81300000001" // RFC 4733
			}
			return "+81300000002" // in-band (the scenario looks at the last digit)
		}}
	t.Logf("%d calls at %v/s, # at %v; sipp on 127.0.0.1:%d (RTP %d), denwa RTP %d-%d", calls, rate, hold, sipPort, sippRTP, rtpFirst, rtpLast)
	if capRun != nil {
		capRun.arm()
	}
	res := runLoad(context.Background(), spec)
	sum := summarize(spec, res)

	// sipp's verdict: every call successful, none failed.
	var sippErr error
	select {
	case sippErr = <-sippDone:
		sippDone <- sippErr // for Cleanup
	case <-time.After(30 * time.Second):
		sippErr = fmt.Errorf("sipp still running 30 s after the last call")
	}
	okCalls, failed := sippCounts(sippOut.String())

	extra := [][2]string{{"sipp", fmt.Sprintf("%d successful, %d failed, exit %v", okCalls, failed, sippErr)}}
	// Key-to-verified from the key's arrival: sipp starts its stream on
	// our ACK, right after the answer, and the # is hold into it, so it
	// arrives at about answer + hold (later if sipp starts late, which
	// only makes these figures larger). play_pcap_audio starts within a
	// millisecond of the ACK; rtp_stream 20–40 ms after it (its threads
	// take a new stream up at one 20 ms tick and send from the next), which
	// the in-band figures include.
	arr := map[dtmf.Source][]time.Duration{}
	for _, c := range res.Calls {
		if c.Outcome == enroll.OutcomeVerified && !c.Decided.IsZero() && !c.Answered.IsZero() {
			arr[c.Source] = append(arr[c.Source], c.Decided.Sub(c.Answered.Add(hold)))
		}
	}
	for _, src := range []dtmf.Source{dtmf.SourceRFC4733, dtmf.SourceInband} {
		if l := arr[src]; len(l) > 0 {
			q := quantiles(l)
			extra = append(extra, [2]string{"key→verified " + src.String() + " (from arrival)",
				fmt.Sprintf("p50 %s  p99 %s  max %s  (n=%d; answer + %v → decision)", ms(q[0]), ms(q[1]), ms(q[2]), len(l), hold)})
		}
	}
	if capRun != nil {
		st, err := capRun.analyse(t)
		if err != nil {
			t.Errorf("capture: %v", err)
		} else {
			extra = append(extra, [2]string{"RTP pacing error (receiver)", st})
		}
	}
	var out bytes.Buffer
	sum.print(&out, extra...)
	t.Logf("\n%s", out.String())

	// Correctness: every call verified with exactly "#", none lost or
	// doubled, and sipp agrees.
	verified := 0
	for i, c := range res.Calls {
		if c.Index != i || c.Start.IsZero() {
			t.Errorf("call %d never placed", i)
			continue
		}
		if c.Outcome == enroll.OutcomeVerified && c.Keys == "#" {
			verified++
		} else if verified+10 > i || testing.Verbose() {
			t.Errorf("call %d: %v keys %q cause %s", i, c.Outcome, c.Keys, c.Cause)
		}
	}
	// The dialer's pacer counted every call's frames: 50 a second for at
	// least hold.
	if p := sum.Pacing; p.Frames < int64(calls)*int64(hold/media.FrameInterval) {
		t.Errorf("the dialer's pacer counted %d frames for %d calls of at least %v", p.Frames, calls, hold)
	}
	if verified != calls {
		t.Errorf("%d of %d calls verified with keys \"#\"", verified, calls)
	}
	// Both sipp engines send from the port their SDP names (play_pcap_audio
	// writes [media_port] into its packets, rtp_stream sends from the -mp
	// socket that [rtpstream_audio_port] names), and denwa takes media from
	// there only: it dropped nothing, and needs no --rtp-learn for sipp.
	if n := d.ForeignPackets(); n != 0 {
		t.Errorf("the dialer dropped %d RTP datagrams as not from the SDP's address", n)
	}
	if okCalls != calls || failed != 0 || sippErr != nil {
		t.Errorf("sipp: %d successful, %d failed of %d, exit %v\n%s", okCalls, failed, calls, sippErr, tailLines(sippOut.String(), 40))
		if b, err := os.ReadFile(filepath.Join(dir, "sipp-errors.log")); err == nil {
			t.Logf("sipp errors:\n%s", tailLines(string(b), 20))
		}
	}
}

// inbandTail is how long the in-band stream goes on after the key's
// start: the key, the closing prompt (about 4 s) and the BYE, with room to
// spare. sipp stops a stream at the end of its call.
const inbandTail = 8 * time.Second

// ulawAudio returns the audio of s (PCMU, in-band keys only) as raw μ-law,
// the file format of sipp's rtp_stream: the payloads of its packets in
// order, 160 bytes (20 ms) each.
func ulawAudio(t *testing.T, s mediatest.Stream) []byte {
	t.Helper()
	pkts, err := s.Packets()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 0, len(pkts)*160)
	for i, p := range pkts {
		// A 12-byte RTP header (version 2, no CSRC or extension), PT 0.
		if len(p.Payload) != 12+160 || p.Payload[0] != 0x80 || p.Payload[1]&0x7f != mediatest.PCMU {
			t.Fatalf("in-band stream: packet %d is not 20 ms of PCMU (%d bytes, % x)", i, len(p.Payload), p.Payload[:min(2, len(p.Payload))])
		}
		out = append(out, p.Payload[12:]...)
	}
	return out
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s=%q: not a number", name, s)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s=%q: not a duration", name, s)
	}
	return d
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// waitUDPBound waits (at most 5 s) until something holds the UDP port.
func waitUDPBound(t *testing.T, port int, done chan error, out *bytes.Buffer) {
	t.Helper()
	for range 100 {
		c, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return
		}
		c.Close()
		select {
		case err := <-done:
			done <- err
			t.Fatalf("sipp exited at start: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("sipp did not bind its port in 5 s")
}

var (
	sippOK   = regexp.MustCompile(`Successful call\s*\|\s*\d+\s*\|\s*(\d+)`)
	sippFail = regexp.MustCompile(`Failed call\s*\|\s*\d+\s*\|\s*(\d+)`)
)

// sippCounts reads the cumulative successful and failed calls from sipp's
// last statistics screen.
func sippCounts(out string) (ok, failed int) {
	if m := sippOK.FindAllStringSubmatch(out, -1); len(m) > 0 {
		ok, _ = strconv.Atoi(m[len(m)-1][1])
	}
	if m := sippFail.FindAllStringSubmatch(out, -1); len(m) > 0 {
		failed, _ = strconv.Atoi(m[len(m)-1][1])
	}
	return ok, failed
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dumpcapRun records the RTP denwa sends to sipp's media port, for the
// pacing error as the receiver sees it.
type dumpcapRun struct {
	path          string
	port          int
	delay, length time.Duration
	mu            sync.Mutex
	proc          *os.Process // once dumpcap started; under mu
	done          chan error
	stderr        bytes.Buffer
	armed         chan struct{}
}

func (c *dumpcapRun) start(t *testing.T) {
	dumpcap := mediatest.RequireTool(t, "dumpcap")
	c.armed = make(chan struct{})
	c.done = make(chan error, 1)
	secs := max(1, int(c.length.Seconds()+0.5))
	go func() {
		<-c.armed
		time.Sleep(c.delay)
		cmd := exec.Command(dumpcap, "-q", "-i", "lo", "-f", fmt.Sprintf("udp dst port %d", c.port),
			"-a", fmt.Sprintf("duration:%d", secs), "-P", "-B", "64", "-w", c.path)
		cmd.Stderr = &c.stderr
		if err := cmd.Start(); err != nil {
			c.done <- err
			return
		}
		c.mu.Lock()
		c.proc = cmd.Process
		c.mu.Unlock()
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		c.arm()
		select {
		case <-c.done:
		case <-time.After(time.Duration(secs)*time.Second + c.delay + 10*time.Second):
			c.signal(os.Kill)
		}
	})
}

// signal sends sig to dumpcap if it has started.
func (c *dumpcapRun) signal(sig os.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		c.proc.Signal(sig)
	}
}

func (c *dumpcapRun) arm() {
	select {
	case <-c.armed:
	default:
		close(c.armed)
	}
}

// analyse stops the capture (SIGINT: dumpcap writes out what it has) and
// returns the per-stream inter-arrival deviation from 20 ms.
func (c *dumpcapRun) analyse(t *testing.T) (string, error) {
	var err error
	select {
	case err = <-c.done:
	case <-time.After(500 * time.Millisecond):
		c.signal(syscall.SIGINT)
		select {
		case err = <-c.done:
		case <-time.After(10 * time.Second):
			return "", fmt.Errorf("dumpcap did not stop")
		}
	}
	c.done <- err // for Cleanup
	if err != nil && !strings.Contains(err.Error(), "interrupt") {
		t.Logf("dumpcap: %v %s", err, c.stderr.String())
	}
	f, err := os.Open(c.path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	pkts, err := mediatest.ReadCapture(f)
	if err != nil && len(pkts) == 0 {
		return "", err
	}
	type last struct {
		at  time.Duration
		seq uint16
	}
	streams := map[uint64]last{}
	var devs []time.Duration
	for _, p := range pkts {
		if len(p.Payload) < 12 || p.Payload[0]>>6 != 2 {
			continue
		}
		seq := binary.BigEndian.Uint16(p.Payload[2:])
		key := uint64(p.Src.Port())<<32 | uint64(binary.BigEndian.Uint32(p.Payload[8:]))
		if l, ok := streams[key]; ok && seq == l.seq+1 {
			dev := p.At - l.at - media.FrameInterval
			devs = append(devs, max(dev, -dev))
		}
		streams[key] = last{p.At, seq}
	}
	if len(devs) == 0 {
		return "", fmt.Errorf("no consecutive RTP packets in %d captured", len(pkts))
	}
	q := quantiles(devs)
	span := time.Duration(0)
	if len(pkts) > 1 {
		span = pkts[len(pkts)-1].At - pkts[0].At
	}
	return fmt.Sprintf("p50 %s  p99 %s  max %s  (|inter-arrival − 20 ms| of %d pairs, %d streams, %d packets over %.1fs, dumpcap at sipp's port)",
		ms(q[0]), ms(q[1]), ms(q[2]), len(devs), len(streams), len(pkts), span.Seconds()), nil
}

// The summary of a run counts outcomes and, for the calls not verified,
// their causes, most first, so that a failed run says why in its own
// output.
func TestLoadSummaryCauses(t *testing.T) {
	const noPort = "play greeting: media: no free port: 127.0.0.1:30000-30998, all 500 in use"
	start := time.Unix(1000, 0)
	var calls []loadCall
	add := func(n int, o enroll.Outcome, cause string) {
		for range n {
			calls = append(calls, loadCall{Index: len(calls), Outcome: o, Cause: cause, Start: start})
		}
	}
	add(3, enroll.OutcomeVerified, "")
	add(1, enroll.OutcomeFailed, "sip: x3")
	add(4, enroll.OutcomeFailed, noPort)
	add(2, enroll.OutcomeNoAnswer, "sip: not answered in 1s")
	add(1, enroll.OutcomeFailed, "sip: x1")
	add(1, enroll.OutcomeHungUp, "")
	add(1, enroll.OutcomeBusy, "sip: 486 Busy Here")
	add(1, enroll.OutcomeFailed, "sip: x2")
	calls = append(calls, loadCall{Index: len(calls)}) // never started
	sum := summarize(loadSpec{Calls: len(calls)}, &loadResult{Calls: calls, Wall: time.Second})

	var out bytes.Buffer
	sum.print(&out)
	var got []string
	for line := range strings.Lines(out.String()) {
		got = append(got, strings.Join(strings.Fields(line), " "))
	}
	want := []string{
		"calls 14 placed of 15, 0 answered",
		"outcomes [verified 3 no-answer 2 busy 1 hung-up 1 failed 7]",
		"causes (not verified) 4 failed: " + noPort,
		"2 no-answer: sip: not answered in 1s",
		"1 busy: sip: 486 Busy Here",
		"1 hung-up: (no cause recorded)",
		"1 failed: sip: x1",
		"2 calls with 2 other causes",
		"call setup rate 0.0 answered/s",
	}
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("summary:\n%s\nwant it to begin\n%s", out.String(), strings.Join(want, "\n"))
	}
}
