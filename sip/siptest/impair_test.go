package siptest

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// sentPacket is one packet a pipe sent: its RTP sequence number and when.
type sentPacket struct {
	seq uint16
	at  time.Duration // from the first push
}

// pipeRun pushes n RTP packets (sequence 0…n-1) into a pipe impairing
// with imp, one every 20 ms of synctest's clock, and returns what it sent,
// in order, and its counts.
func pipeRun(t *testing.T, imp Impairment, seed uint64, n int) ([]sentPacket, ImpairStats) {
	t.Helper()
	out, st, _ := pipeTrace(t, imp, seed, n)
	return out, st
}

// pipeTrace is pipeRun, and the pipe's trace.
func pipeTrace(t *testing.T, imp Impairment, seed uint64, n int) ([]sentPacket, ImpairStats, string) {
	t.Helper()
	var out []sentPacket
	var st ImpairStats
	var trace string
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		p := newPipe(imp, seed, 0, func(b []byte) {
			mu.Lock()
			out = append(out, sentPacket{seq: uint16(b[2])<<8 | uint16(b[3]), at: time.Since(start)})
			mu.Unlock()
		})
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { p.run(done) })
		for i := range n {
			b := make([]byte, 172)
			b[0], b[2], b[3] = 0x80, byte(i>>8), byte(i)
			p.push(b, time.Now())
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Second) // everything held or delayed falls due
		synctest.Wait()
		close(done)
		wg.Wait()
		st, trace = p.snapshot(), p.traced()
	})
	return out, st, trace
}

func seqs(ps []sentPacket) []uint16 {
	s := make([]uint16, len(ps))
	for i, p := range ps {
		s[i] = p.seq
	}
	return s
}

// lostRuns returns the lengths of the runs of sequence numbers below n
// that were never sent.
func lostRuns(ps []sentPacket, n int) []int {
	got := make([]bool, n)
	for _, p := range ps {
		got[p.seq] = true
	}
	var runs []int
	run := 0
	for _, g := range got {
		if !g {
			run++
			continue
		}
		if run > 0 {
			runs = append(runs, run)
		}
		run = 0
	}
	if run > 0 {
		runs = append(runs, run)
	}
	return runs
}

func TestPipeUntouched(t *testing.T) {
	out, st := pipeRun(t, Impairment{}, 1, 500)
	if len(out) != 500 || st.Sent != 500 || st.Dropped+st.Reordered+st.Duplicated != 0 {
		t.Fatalf("sent %d, stats %+v", len(out), st)
	}
	for i, p := range out {
		if p.seq != uint16(i) || p.at != time.Duration(i)*20*time.Millisecond {
			t.Fatalf("packet %d: seq %d at %v", i, p.seq, p.at)
		}
	}
}

func TestPipeLoss(t *testing.T) {
	const n = 10000
	out, st, trace := pipeTrace(t, Impairment{Loss: 0.1}, 1, n)
	if f := float64(st.Dropped) / n; f < 0.09 || f > 0.11 {
		t.Errorf("dropped %.3f, want 0.10", f)
	}
	// The trace shows the first traceLen packets, each lost one as x.
	lost := 0
	for i := range traceLen {
		if !slices.ContainsFunc(out, func(p sentPacket) bool { return p.seq == uint16(i) }) {
			lost++
			if trace[i] != 'x' {
				t.Errorf("packet %d lost, traced %q", i, trace[i])
			}
		}
	}
	if len(trace) != traceLen || strings.Count(trace, "x") != lost || strings.Count(trace, ".") != traceLen-lost {
		t.Errorf("trace %q: %d lost", trace, lost)
	}
	if int64(len(out)) != n-st.Dropped || !slices.IsSorted(seqs(out)) {
		t.Errorf("sent %d of %d with %d dropped, in order: %v", len(out), n, st.Dropped, slices.IsSorted(seqs(out)))
	}
	// The same seed drops the same packets; another seed, others.
	again, _ := pipeRun(t, Impairment{Loss: 0.1}, 1, n)
	other, _ := pipeRun(t, Impairment{Loss: 0.1}, 2, n)
	if !slices.Equal(seqs(out), seqs(again)) {
		t.Error("seed 1 twice: different losses")
	}
	if slices.Equal(seqs(out), seqs(other)) {
		t.Error("seeds 1 and 2: the same losses")
	}
}

func TestPipeBurstLoss(t *testing.T) {
	const n = 10000
	out, st := pipeRun(t, Impairment{Loss: 0.2, Burst: 2}, 1, n)
	if f := float64(st.Dropped) / n; f < 0.18 || f > 0.22 {
		t.Errorf("dropped %.3f, want 0.20", f)
	}
	runs := lostRuns(out, n)
	for _, r := range runs[:len(runs)-1] { // the last may be cut by the end
		if r != 2 {
			t.Fatalf("a run of %d lost packets; bursts are of exactly 2 (runs %v)", r, runs)
		}
	}
}

func TestPipeReorder(t *testing.T) {
	const n = 5000
	for _, depth := range []int{1, 3} {
		out, st := pipeRun(t, Impairment{Reorder: 0.1, ReorderDepth: depth}, 1, n)
		got := seqs(out)
		if len(got) != n {
			t.Fatalf("depth %d: sent %d of %d", depth, len(got), n)
		}
		sorted := slices.Clone(got)
		slices.Sort(sorted)
		for i, s := range sorted {
			if s != uint16(i) {
				t.Fatalf("depth %d: not a permutation at %d", depth, i)
			}
		}
		// Each late packet went out after at most depth packets that
		// followed it; a run of held packets goes together.
		late := 0
		for i, s := range got {
			if int(s) < i {
				late++
			}
			if i-int(s) > 2*depth+2 {
				t.Errorf("depth %d: packet %d sent %d places late", depth, s, i-int(s))
			}
		}
		if f := float64(st.Reordered) / n; f < 0.08 || f > 0.12 {
			t.Errorf("depth %d: reordered %.3f, want about 0.10", depth, f)
		}
		if late == 0 {
			t.Errorf("depth %d: no packet sent late", depth)
		}
	}
}

func TestPipeDuplicate(t *testing.T) {
	const n = 5000
	out, st := pipeRun(t, Impairment{Duplicate: 0.05}, 1, n)
	if f := float64(st.Duplicated) / n; f < 0.04 || f > 0.06 {
		t.Errorf("duplicated %.3f, want 0.05", f)
	}
	if int64(len(out)) != n+st.Duplicated || st.Reordered != 0 {
		t.Errorf("sent %d, stats %+v", len(out), st)
	}
	twice := 0
	for i := 1; i < len(out); i++ {
		if out[i].seq == out[i-1].seq {
			twice++
		}
	}
	if int64(twice) != st.Duplicated {
		t.Errorf("%d packets sent twice in a row, %d counted", twice, st.Duplicated)
	}
}

func TestPipeJitter(t *testing.T) {
	const n = 2000
	const j = 60 * time.Millisecond
	out, st := pipeRun(t, Impairment{Jitter: j}, 1, n)
	if len(out) != n {
		t.Fatalf("sent %d of %d", len(out), n)
	}
	var most time.Duration
	for _, p := range out {
		d := p.at - time.Duration(p.seq)*20*time.Millisecond
		if d < 0 || d > j {
			t.Fatalf("packet %d delayed %v, want 0–%v", p.seq, d, j)
		}
		most = max(most, d)
	}
	if most < j*9/10 || st.Reordered < n/10 {
		t.Errorf("longest delay %v, %d reordered: the jitter did not spread", most, st.Reordered)
	}
}

func TestPipeStall(t *testing.T) {
	imp := Impairment{Stall: 300 * time.Millisecond, StallEvery: time.Second}
	out, st := pipeRun(t, imp, 1, 150) // 3 s: stalls at 1 s and 2 s
	if len(out) != 150 || !slices.IsSorted(seqs(out)) {
		t.Fatalf("sent %d, in order %v", len(out), slices.IsSorted(seqs(out)))
	}
	for _, p := range out {
		arrived := time.Duration(p.seq) * 20 * time.Millisecond
		want := arrived
		if k := arrived / time.Second; k >= 1 && arrived-k*time.Second < imp.Stall {
			want = k*time.Second + imp.Stall
		}
		if p.at != want {
			t.Errorf("packet %d (in at %v) sent at %v, want %v", p.seq, arrived, p.at, want)
		}
	}
	if st.Stalled != 30 {
		t.Errorf("%d packets stalled, want 30", st.Stalled)
	}
}

func TestLossStart(t *testing.T) {
	for _, c := range []struct {
		f float64
		n int
	}{{0.1, 1}, {0.2, 2}, {0.3, 4}, {0.5, 3}} {
		q := lossStart(c.f, c.n)
		got := q * float64(c.n) / (1 + q*float64(c.n))
		if c.n == 1 {
			got = q
		}
		if got < c.f-1e-9 || got > c.f+1e-9 {
			t.Errorf("lossStart(%v, %d) = %v: fraction %v", c.f, c.n, q, got)
		}
	}
}

func TestRewriteSDP(t *testing.T) {
	offer := strings.Join([]string{"v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
		"m=audio 31002 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", ""}, "\r\n")
	local := netip.MustParseAddrPort("127.0.0.1:45000")
	out, remote, err := rewriteSDP([]byte(offer), local)
	if err != nil {
		t.Fatal(err)
	}
	if remote != netip.MustParseAddrPort("127.0.0.1:31002") {
		t.Errorf("remote %v", remote)
	}
	s := string(out)
	for _, want := range []string{"c=IN IP4 127.0.0.1\r\n", "m=audio 45000 RTP/AVP 0 8 101\r\n", "a=rtpmap:101 telephone-event/8000\r\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("rewritten SDP lacks %q:\n%s", want, s)
		}
	}
	if _, _, err := rewriteSDP([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"), local); err == nil {
		t.Error("SDP without audio: no error")
	}
}
