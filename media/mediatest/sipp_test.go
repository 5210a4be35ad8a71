package mediatest

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestSippLiveCall places one call between two sipp processes on loopback,
// the UAC replaying a pcap written by this package, records it with dumpcap
// and checks the capture holds the SIP exchange and exactly the RTP that
// was sent: every audio and telephone-event packet, headers unchanged.
func TestSippLiveCall(t *testing.T) {
	sipp := RequireTool(t, "sipp")
	dumpcap := RequireTool(t, "dumpcap")
	RequireRoot(t, "sipp's play_pcap_audio (a raw socket)")

	dir := t.TempDir()
	in := Stream{
		SSRC: 0x5151e000, Src: inSrc, Dst: inDst, AudioPT: PCMU, EventPT: 101,
		Seq: 65500, Timestamp: 123456, Duration: 1000 * ms,
		Presses: []Press{
			{Key: '*', At: 200 * ms, Dur: 120 * ms, Mode: Inband},
			{Key: '#', At: 500 * ms, Dur: 120 * ms, Quirks: EventQuirks{EndSameSeq: true}},
		},
	}
	sent, err := in.Packets()
	if err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(dir, "in.pcap")
	f, err := os.Create(input)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Capture{Streams: []Stream{in}}).WriteTo(f, CaptureOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Close()

	sipUAS, sipUAC := FreeUDPPorts(t, 0), FreeUDPPorts(t, 0)
	mediaUAS := FreeUDPPorts(t, 3)
	mediaUAC := FreeUDPPorts(t, 3)
	vars := map[string]string{"AUDIO_PT": "0", "AUDIO_NAME": "PCMU", "EVENT_PT": "101", "PCAP": input, "PAUSE_MS": "1500"}
	RenderScenario(t, filepath.Join(sippDir, "uas.xml.in"), filepath.Join(dir, "uas.xml"), vars)
	RenderScenario(t, filepath.Join(sippDir, "uac.xml.in"), filepath.Join(dir, "uac.xml"), vars)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	capFile := filepath.Join(dir, "call.pcap")
	filter := fmt.Sprintf("udp port %d or udp port %d or udp portrange %d-%d or udp portrange %d-%d",
		sipUAS, sipUAC, mediaUAS, mediaUAS+3, mediaUAC, mediaUAC+3)
	var dumpErr bytes.Buffer
	dump := exec.CommandContext(ctx, dumpcap, "-i", "lo", "-f", filter, "-P", "-a", "duration:20", "-w", capFile)
	dump.Stderr = &dumpErr
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	dumpDone := make(chan error, 1)
	go func() { dumpDone <- dump.Wait() }()
	stopped := false
	stopDump := func() {
		if stopped {
			return
		}
		stopped = true
		select {
		case <-dumpDone: // it already ended (-a duration)
			return
		default:
		}
		_ = dump.Process.Signal(os.Interrupt)
		select {
		case <-dumpDone:
		case <-time.After(5 * time.Second):
			_ = dump.Process.Kill()
			<-dumpDone
		}
	}
	// dumpcap writes the file header once it captures.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, err := os.Stat(capFile); err == nil && st.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			stopDump()
			t.Fatalf("dumpcap did not start: %s", dumpErr.String())
		}
	}
	time.Sleep(300 * time.Millisecond)

	run := func(name string, args ...string) (*exec.Cmd, *bytes.Buffer) {
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, sipp, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			stopDump()
			t.Fatalf("%s: %v", name, err)
		}
		return cmd, &out
	}
	uas, uasOut := run("uas", "-sf", "uas.xml", "-i", "127.0.0.1", "-p", fmt.Sprint(sipUAS),
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(mediaUAS), "-m", "1", "-timeout", "12s", "-nostdin")
	time.Sleep(200 * time.Millisecond)
	uac, uacOut := run("uac", "-sf", "uac.xml", "-i", "127.0.0.1", "-p", fmt.Sprint(sipUAC),
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(mediaUAC), "-m", "1", "-timeout", "12s", "-s", "1000",
		fmt.Sprintf("127.0.0.1:%d", sipUAS), "-nostdin")
	uacErr := uac.Wait()
	uasErr := uas.Wait()
	time.Sleep(200 * time.Millisecond)
	stopDump()
	if uacErr != nil || uasErr != nil {
		t.Fatalf("sipp failed: uac %v, uas %v\n--- uac:\n%s\n--- uas:\n%s", uacErr, uasErr, tail(uacOut.String()), tail(uasOut.String()))
	}

	defer stopDump()
	f, err = os.Open(capFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ReadCapture(f)
	if err != nil {
		t.Fatal(err)
	}
	var invite, ok200, audio, events int
	var rtpGot [][]byte
	for _, p := range got {
		switch {
		case bytes.HasPrefix(p.Payload, []byte("INVITE ")):
			invite++
			if !bytes.Contains(p.Payload, []byte("a=rtpmap:101 telephone-event/8000")) {
				t.Errorf("INVITE without the telephone-event offer:\n%s", p.Payload)
			}
		case bytes.HasPrefix(p.Payload, []byte("SIP/2.0 200 OK")) && bytes.Contains(p.Payload, []byte("CSeq: 1 INVITE")):
			ok200++
		case p.Dst.Port() == uint16(mediaUAS):
			var r rtp.Packet
			if err := r.Unmarshal(p.Payload); err != nil {
				t.Fatalf("RTP to the UAS does not parse: %v", err)
			}
			if want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(mediaUAC)); p.Src != want {
				t.Errorf("RTP from %v, want %v", p.Src, want)
			}
			switch r.PayloadType {
			case PCMU:
				audio++
			case 101:
				events++
			default:
				t.Errorf("unexpected payload type %d", r.PayloadType)
			}
			rtpGot = append(rtpGot, p.Payload)
		}
	}
	var wantAudio, wantEvents int
	for _, p := range sent {
		if p.Payload[1]&0x7F == 101 {
			wantEvents++
		} else {
			wantAudio++
		}
	}
	t.Logf("capture: %d packets; INVITE %d, 200 OK %d, audio %d, telephone-event %d", len(got), invite, ok200, audio, events)
	if invite != 1 || ok200 < 1 || audio != wantAudio || events != wantEvents {
		t.Fatalf("got INVITE %d, 200 OK %d, audio %d, events %d; want 1, ≥1, %d, %d", invite, ok200, audio, events, wantAudio, wantEvents)
	}
	for i := range sent {
		if !bytes.Equal(rtpGot[i], sent[i].Payload) {
			t.Fatalf("RTP packet %d differs from the one sent", i)
		}
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
