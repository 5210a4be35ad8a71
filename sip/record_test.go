package sip_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"denwa/audio"
	"denwa/media"
	"denwa/media/mediatest"
	"denwa/sip"
	"denwa/sip/siptest"
)

// The record test's RTP ranges: nothing else in the repository's tests
// uses 52000–52199, so the capture filter below sees only this call's
// RTP (and the test's own probes).
const (
	recDialerFirst, recDialerLast = 52000, 52019
	recPhoneFirst, recPhoneLast   = 52100, 52119
	// recProbePort is odd, in the dialer's range: the pool binds only even
	// ports, so the probes reach no socket.
	recProbePort = 52019
	recFrames    = 100
)

// TestRecordRTP is the interop item "record the RTP that the far end
// receives and prove the prompt arrives intact and paced": a call from a
// Dialer to a simulated phone that presses no keys plays the shipped
// greeting's first 100 frames while dumpcap records the RTP on lo. In the
// capture, the dialer→phone stream must be one SSRC with sequence numbers
// +1 and timestamps +160 from its first packet (marker set) to its last,
// silence before the prompt, and then exactly the prompt's frames, byte
// for byte, in order. Arrival spacing is reported; only the prompt's
// total span is asserted, loosely (±25 %), to catch a sender that bursts.
func TestRecordRTP(t *testing.T) {
	dumpcap := mediatest.RequireTool(t, "dumpcap")
	mediatest.RequireRoot(t, "dumpcap capturing on lo")
	cat, err := audio.LoadCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	greeting, err := cat.Get(audio.PromptGreeting)
	if err != nil {
		t.Fatal(err)
	}
	if greeting.NumFrames() < recFrames {
		t.Fatalf("greeting has %d frames, want at least %d", greeting.NumFrames(), recFrames)
	}
	for _, tc := range []struct {
		name  string
		kind  media.PayloadKind
		codec audio.Codec
	}{
		{"pcmu", media.KindPCMU, audio.PCMU},
		{"pcma", media.KindPCMA, audio.PCMA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames := make([][]byte, recFrames)
			for i := range frames {
				frames[i] = greeting.Frame(i, tc.codec)
			}
			capFile := filepath.Join(t.TempDir(), "call-"+tc.name+".pcap")
			filter := fmt.Sprintf("udp and (portrange %d-%d or portrange %d-%d)", recDialerFirst, recDialerLast, recPhoneFirst, recPhoneLast)
			stop := startDumpcap(t, dumpcap, filter, capFile)

			phone := siptest.NewPhone(t, sip.PhoneConfig{Codecs: []media.PayloadKind{tc.kind},
				RTPPortFirst: recPhoneFirst, RTPPortLast: recPhoneLast, Logger: quietLogger()})
			d := newDialer(t, sip.Config{Trunk: phone.URI(), RTPPortFirst: recDialerFirst, RTPPortLast: recDialerLast, RingTimeout: 5 * time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			call, err := d.Dial(ctx, "+81312345678", nil, nil)
			if err != nil {
				stop()
				t.Fatal(err)
			}
			if call.Codec() != tc.kind {
				t.Errorf("codec %v, want %v", call.Codec(), tc.kind)
			}
			remote, pt := call.Media().Remote, call.Media().PayloadType
			playStart := time.Now()
			if err := call.Play(ctx, frames); err != nil {
				t.Errorf("Play: %v", err)
			}
			played := time.Since(playStart)
			if err := call.Hangup(ctx); err != nil {
				t.Errorf("Hangup: %v", err)
			}
			phone.Next(t, 5*time.Second)
			d.Close()
			pkts := stop()
			t.Logf("Play took %v; capture holds %d datagrams", played.Round(time.Millisecond), len(pkts))

			// The dialer→phone stream: from the dialer's range to the
			// phone's negotiated RTP address.
			var stream []mediatest.Packet
			var hdrs []rtp.Packet
			for _, p := range pkts {
				if p.Dst != remote || p.Src.Port() < recDialerFirst || p.Src.Port() > recDialerLast {
					continue
				}
				var h rtp.Packet
				if err := h.Unmarshal(p.Payload); err != nil {
					t.Fatalf("datagram %v→%v at %v is not RTP: %v", p.Src, p.Dst, p.At, err)
				}
				stream = append(stream, p)
				hdrs = append(hdrs, h)
			}
			if os.Getenv("DENWA_RECORD_DEBUG") != "" {
				for _, p := range pkts {
					var h rtp.Header
					_, _ = h.Unmarshal(p.Payload)
					t.Logf("%v %v→%v seq %d ts %d m %v pt %d len %d", p.At, p.Src, p.Dst, h.SequenceNumber, h.Timestamp, h.Marker, h.PayloadType, len(p.Payload))
				}
			}
			if len(hdrs) == 0 {
				t.Fatalf("no packets from the dialer to %v", remote)
			}
			checkStream(t, hdrs, pt)

			// Find the prompt: the one place where all its frames follow
			// each other; everything before it is silence.
			var starts []int
			for j := 0; j+recFrames <= len(hdrs); j++ {
				if slices.EqualFunc(hdrs[j:j+recFrames], frames, func(h rtp.Packet, f []byte) bool { return bytes.Equal(h.Payload, f) }) {
					starts = append(starts, j)
				}
			}
			if len(starts) == 0 {
				bestJ, bestK := 0, 0
				for j := range hdrs {
					k := 0
					for k < recFrames && j+k < len(hdrs) && bytes.Equal(hdrs[j+k].Payload, frames[k]) {
						k++
					}
					if k > bestK {
						bestJ, bestK = j, k
					}
				}
				where := -1
				if bestK < recFrames && bestJ+bestK < len(hdrs) {
					for i, f := range frames {
						if bytes.Equal(hdrs[bestJ+bestK].Payload, f) {
							where = i
							break
						}
					}
				}
				t.Fatalf("the prompt is not in the stream: its longest run is frames 0–%d at packet %d of %d; the packet after it carries frame %d (-1: none)", bestK-1, bestJ, len(hdrs), where)
			}
			if len(starts) != 1 {
				t.Fatalf("the prompt's %d frames appear in order at %d places (%v), want exactly one", recFrames, len(starts), starts)
			}
			start := starts[0]
			silence := hdrs[0].Payload
			for i, h := range hdrs[:start] {
				if !bytes.Equal(h.Payload, silence) || !bytes.Equal(silence, bytes.Repeat(silence[:1], media.FrameSamples)) {
					t.Errorf("packet %d before the prompt is not the silence frame", i)
					break
				}
			}
			t.Logf("prompt starts at packet %d (after %d silence frames), seq %d, ts %d", start, start, hdrs[start].SequenceNumber, hdrs[start].Timestamp)

			// Pacing, from capture timestamps of the prompt's packets.
			at := make([]time.Duration, recFrames)
			for i := range at {
				at[i] = stream[start+i].At
			}
			reportSpacing(t, at)
			span, want := at[recFrames-1]-at[0], time.Duration(recFrames-1)*20*time.Millisecond
			if span < want*3/4 || span > want*5/4 {
				t.Errorf("the prompt's %d packets span %v on the wire, want %v ±25%%", recFrames, span, want)
			}
		})
	}
}

// checkStream checks one sender's RTP headers: one SSRC, the payload type,
// sequence numbers +1 and timestamps +160 (wrapping), the marker on the
// first packet and nowhere else (denwa sends silence between prompts, so
// its audio timeline has no other hole).
func checkStream(t *testing.T, hdrs []rtp.Packet, pt uint8) {
	t.Helper()
	first := hdrs[0].Header
	if !first.Marker {
		t.Errorf("first packet (seq %d) has no marker bit", first.SequenceNumber)
	}
	bad := 0
	for i := range hdrs {
		h := hdrs[i].Header
		var errs []string
		if h.SSRC != first.SSRC {
			errs = append(errs, fmt.Sprintf("SSRC %#x, want %#x", h.SSRC, first.SSRC))
		}
		if h.PayloadType != pt {
			errs = append(errs, fmt.Sprintf("payload type %d, want %d", h.PayloadType, pt))
		}
		if want := first.SequenceNumber + uint16(i); h.SequenceNumber != want {
			errs = append(errs, fmt.Sprintf("seq %d, want %d", h.SequenceNumber, want))
		}
		if want := first.Timestamp + uint32(i)*media.FrameSamples; h.Timestamp != want {
			errs = append(errs, fmt.Sprintf("timestamp %d, want %d", h.Timestamp, want))
		}
		if i > 0 && h.Marker {
			errs = append(errs, "marker bit set")
		}
		if len(hdrs[i].Payload) != media.FrameSamples {
			errs = append(errs, fmt.Sprintf("%d payload bytes", len(hdrs[i].Payload)))
		}
		if len(errs) > 0 {
			if bad++; bad <= 5 {
				t.Errorf("packet %d: %v", i, errs)
			}
		}
	}
	if bad > 5 {
		t.Errorf("… and %d more bad packets", bad-5)
	}
	t.Logf("dialer stream: %d packets, SSRC %#x, seq %d…, ts %d…", len(hdrs), first.SSRC, first.SequenceNumber, first.Timestamp)
}

// reportSpacing logs the arrival spacing's quantiles. Wall-clock pacing on
// a shared machine is only reported, not asserted.
func reportSpacing(t *testing.T, at []time.Duration) {
	t.Helper()
	gaps := make([]time.Duration, 0, len(at)-1)
	for i := 1; i < len(at); i++ {
		gaps = append(gaps, at[i]-at[i-1])
	}
	slices.Sort(gaps)
	q := func(p float64) time.Duration { return gaps[min(len(gaps)-1, int(p*float64(len(gaps))))] }
	t.Logf("arrival spacing over %d gaps: min %v p50 %v p99 %v max %v", len(gaps), gaps[0], q(0.50), q(0.99), gaps[len(gaps)-1])
}

// startDumpcap records filter on lo into file and returns once the
// capture demonstrably runs: dumpcap writes the pcap to its stdout, which
// it flushes per packet, and the test waits until a probe datagram it
// sends into the filtered ports shows up there. stop waits the same way
// for a last probe (so that nothing sent before it is lost), interrupts
// dumpcap (SIGINT), waits for it to finish writing, and returns the
// capture's datagrams without the probes. It also runs when the test ends.
func startDumpcap(t *testing.T, dumpcap, filter, file string) (stop func() []mediatest.Packet) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(dumpcap, "-i", "lo", "-f", filter, "-P", "-q", "-a", "duration:60", "-w", "-")
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen bytes.Buffer // everything written so far, to look for the probe
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(f, lockedWriter{&mu, &seen}), out)
		copied <- err
	}()
	// fence sends probe datagrams into the filtered ports until one shows
	// up in dumpcap's output. Packets reach the capture in order, so
	// everything sent before the fence is then in the output too: libpcap
	// hands packets over in blocks, and dumpcap drops a block still in the
	// kernel when it is interrupted.
	probe, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), recProbePort)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { probe.Close() })
	fence := func() error {
		mark := []byte(fmt.Sprintf("denwa-record-probe-%d", time.Now().UnixNano()))
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, _ = probe.Write(mark)
			mu.Lock()
			ok := bytes.Contains(seen.Bytes(), mark)
			mu.Unlock()
			if ok {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("probe not captured in 10 s")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var once sync.Once
	var pkts []mediatest.Packet
	stop = func() []mediatest.Packet {
		once.Do(func() {
			if err := fence(); err != nil {
				t.Errorf("dumpcap: %v", err)
			}
			_ = cmd.Process.Signal(os.Interrupt)
			done := make(chan error, 1)
			go func() { <-copied; done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("dumpcap: %v: %s", err, stderr.String())
				}
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Errorf("dumpcap did not stop on SIGINT: %s", stderr.String())
			}
			f.Close()
			r, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			all, err := mediatest.ReadCapture(r)
			if err != nil {
				t.Errorf("reading %s: %v", file, err)
			}
			for _, p := range all {
				if p.Dst.Port() != recProbePort {
					pkts = append(pkts, p)
				}
			}
		})
		return pkts
	}
	t.Cleanup(func() { stop() })

	// Wait until dumpcap demonstrably captures before the call starts.
	if err := fence(); err != nil {
		stop()
		t.Fatalf("dumpcap did not start: %v: %s", err, stderr.String())
	}
	return stop
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
