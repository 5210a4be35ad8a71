package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"denwa/audio"
	"denwa/dtmf"
	"denwa/enroll"
	"denwa/media"
	"denwa/sip"
)

// loadSpec describes a load run: Calls verification calls started at Rate
// new calls a second, at most MaxConcurrent at once, each one the full
// dialogue of placeCall. Call i goes through Dialers[i%len(Dialers)] to
// Number(i). Every run is bounded by Calls and by Limit (wall time).
type loadSpec struct {
	Calls         int
	Rate          float64
	MaxConcurrent int
	Limit         time.Duration
	Dialers       []*sip.Dialer
	Prompts       *audio.Catalog
	Dialogue      enroll.DialogueConfig // each call's (challenge mode)
	Number        func(i int) string
}

// loadCall is what one call of a load run did.
type loadCall struct {
	Index    int
	Outcome  enroll.Outcome
	Cause    string
	Keys     string
	Start    time.Time // Dial called
	Answered time.Time // zero when not answered
	// KeyAt is when the key that decided the outcome began on the line
	// (the line's KeyPress.At: when media handed it over, less the part of
	// the press heard by then); Decided is when the dialogue acted on the
	// outcome (the next prompt began, or the hang-up). Zero when no key
	// decided the call.
	KeyAt, Decided time.Time
	Source         dtmf.Source
}

// loadResult sums up a load run.
type loadResult struct {
	Calls      []loadCall
	Wall       time.Duration // first Dial to last call ended
	CPU        time.Duration // user+system of the whole process during the run
	PeakActive int
	// Memory: the process's peak RSS (getrusage) and, per active call,
	// the growth of the live Go heap and of the RSS from before the run to
	// the sample with the most calls active, divided by that count.
	PeakRSS, BaseRSS         int64 // bytes
	HeapPerCall, RSSPerCall  float64
	BaseHeap, HeapAtPeak     uint64
	GoroutinesAtPeak, BaseGo int
	// Pacing is the dialers' pacers' work during the run: frames sent and
	// the pacing error at the sender (deadline to sendto's return).
	Pacing media.PacerStats
}

// runLoad places the calls and waits for every one to end.
func runLoad(ctx context.Context, spec loadSpec) *loadResult {
	if spec.MaxConcurrent <= 0 {
		spec.MaxConcurrent = spec.Calls
	}
	if spec.Limit <= 0 {
		spec.Limit = time.Hour
	}
	ctx, cancel := context.WithTimeout(ctx, spec.Limit)
	defer cancel()

	res := &loadResult{Calls: make([]loadCall, spec.Calls)}
	runtime.GC()
	res.BaseHeap = heapLive()
	res.BaseRSS = currentRSS()
	res.BaseGo = runtime.NumGoroutine()
	cpu0 := cpuTime()
	pace0 := pacerStats(spec.Dialers)

	var (
		mu     sync.Mutex
		active int
		wg     sync.WaitGroup
	)
	// The sampler watches memory while calls run: every 100 ms it reads
	// the live heap and the RSS and keeps them at the highest active
	// count seen.
	sampleDone := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sampleDone:
				return
			case <-tick.C:
			}
			mu.Lock()
			n := active
			mu.Unlock()
			if n == 0 || n < res.PeakActive {
				continue
			}
			heap, rss := heapLive(), currentRSS()
			res.PeakActive = n
			res.HeapAtPeak = heap
			res.HeapPerCall = float64(int64(heap)-int64(res.BaseHeap)) / float64(n)
			res.RSSPerCall = float64(rss-res.BaseRSS) / float64(n)
			res.GoroutinesAtPeak = runtime.NumGoroutine()
		}
	})

	sem := make(chan struct{}, spec.MaxConcurrent)
	start := time.Now()
	interval := time.Duration(0)
	if spec.Rate > 0 {
		interval = time.Duration(float64(time.Second) / spec.Rate)
	}
launch:
	for i := range spec.Calls {
		// Call i is due at start + i/Rate: on a fixed grid, so a late
		// wake-up does not lower the rate.
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					break launch
				}
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break launch
		}
		mu.Lock()
		active++
		mu.Unlock()
		d := spec.Dialers[i%len(spec.Dialers)]
		wg.Go(func() {
			defer func() {
				mu.Lock()
				active--
				mu.Unlock()
				<-sem
			}()
			res.Calls[i] = oneLoadCall(ctx, d, spec.Prompts, spec.Dialogue, i, spec.Number(i))
		})
	}
	wg.Wait()
	res.Wall = time.Since(start)
	res.CPU = cpuTime() - cpu0
	res.Pacing = pacerStats(spec.Dialers)
	res.Pacing.Frames -= pace0.Frames
	res.Pacing.Late -= pace0.Late
	res.Pacing.Skipped -= pace0.Skipped
	for i := range res.Pacing.Lag {
		res.Pacing.Lag[i] -= pace0.Lag[i]
	}
	close(sampleDone)
	sampler.Wait()
	res.PeakRSS = peakRSS()
	return res
}

// pacerStats sums the pacers' counters of several dialers.
func pacerStats(ds []*sip.Dialer) media.PacerStats {
	var s media.PacerStats
	for _, d := range ds {
		t := d.PacerStats()
		s.Add(&t)
	}
	return s
}

// oneLoadCall runs placeCall and keeps what the summary needs.
func oneLoadCall(ctx context.Context, d *sip.Dialer, prompts *audio.Catalog, dc enroll.DialogueConfig, i int, number string) loadCall {
	c := loadCall{Index: i, Start: time.Now()}
	rep := placeCall(ctx, d, prompts, dc, number, func(timelineEvent) {})
	c.Outcome, c.Cause, c.Keys, c.Answered = rep.Outcome, rep.Cause, rep.Keys, rep.answered
	if rep.result == nil {
		return c
	}
	// The deciding key is the last one that counted; the dialogue acted
	// on it when the next step (the closing prompt, or the hang-up) began.
	tl := rep.result.Timeline
	for j := len(tl) - 1; j >= 0; j-- {
		s := tl[j]
		if s.Kind != enroll.StepKey || s.Ignored {
			continue
		}
		c.KeyAt, c.Source = s.At, s.Source
		if j+1 < len(tl) {
			c.Decided = tl[j+1].At
		}
		break
	}
	return c
}

// loadSummary is the table printed after a run.
type loadSummary struct {
	Calls, Started, Answered int
	Outcomes                 map[enroll.Outcome]int
	// Causes counts the calls not verified by outcome and cause, most
	// first, so that a run that fails says why.
	Causes                  []causeCount
	SetupRate               float64 // answered calls a second, first Dial to last answer
	Wall                    time.Duration
	CPUPerCall              time.Duration
	PeakActive              int
	PeakRSS                 int64
	HeapPerCall, RSSPerCall float64
	Pacing                  media.PacerStats
	// Key to verified, by the deciding key's source, as quantiles.
	Latency map[dtmf.Source][3]time.Duration // p50, p99, max
	LatN    map[dtmf.Source]int
}

// causeCount is how many calls ended with one outcome and cause.
type causeCount struct {
	Outcome enroll.Outcome
	Cause   string // "" when the outcome carries none
	N       int
}

// maxCauses is how many causes the summary lists; the rest are counted
// together.
const maxCauses = 5

func summarize(spec loadSpec, res *loadResult) loadSummary {
	s := loadSummary{Calls: spec.Calls, Outcomes: map[enroll.Outcome]int{}, Wall: res.Wall,
		PeakActive: res.PeakActive, PeakRSS: res.PeakRSS, Pacing: res.Pacing, HeapPerCall: res.HeapPerCall, RSSPerCall: res.RSSPerCall,
		Latency: map[dtmf.Source][3]time.Duration{}, LatN: map[dtmf.Source]int{}}
	var first, lastAns time.Time
	lat := map[dtmf.Source][]time.Duration{}
	causes := map[causeCount]int{}
	for _, c := range res.Calls {
		if c.Start.IsZero() {
			continue // never started: the run's time limit came first
		}
		s.Started++
		s.Outcomes[c.Outcome]++
		if c.Outcome != enroll.OutcomeVerified {
			causes[causeCount{Outcome: c.Outcome, Cause: c.Cause}]++
		}
		if first.IsZero() || c.Start.Before(first) {
			first = c.Start
		}
		if !c.Answered.IsZero() {
			s.Answered++
			if c.Answered.After(lastAns) {
				lastAns = c.Answered
			}
		}
		if c.Outcome == enroll.OutcomeVerified && !c.Decided.IsZero() {
			lat[c.Source] = append(lat[c.Source], c.Decided.Sub(c.KeyAt))
		}
	}
	if s.Answered > 1 && lastAns.After(first) {
		s.SetupRate = float64(s.Answered) / lastAns.Sub(first).Seconds()
	}
	if s.Started > 0 {
		s.CPUPerCall = res.CPU / time.Duration(s.Started)
	}
	for src, l := range lat {
		s.Latency[src] = quantiles(l)
		s.LatN[src] = len(l)
	}
	for k, n := range causes {
		k.N = n
		s.Causes = append(s.Causes, k)
	}
	slices.SortFunc(s.Causes, func(a, b causeCount) int {
		if a.N != b.N {
			return b.N - a.N
		}
		if a.Outcome != b.Outcome {
			return int(a.Outcome) - int(b.Outcome)
		}
		return strings.Compare(a.Cause, b.Cause)
	})
	return s
}

// quantiles returns p50, p99 and the maximum of d (which it sorts).
func quantiles(d []time.Duration) [3]time.Duration {
	if len(d) == 0 {
		return [3]time.Duration{}
	}
	slices.Sort(d)
	q := func(f float64) time.Duration { return d[min(len(d)-1, int(f*float64(len(d))))] }
	return [3]time.Duration{q(0.50), q(0.99), d[len(d)-1]}
}

// print writes the summary as a two-column table.
func (s loadSummary) print(w io.Writer, extra ...[2]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("calls", fmt.Sprintf("%d placed of %d, %d answered", s.Started, s.Calls, s.Answered))
	var outs []string
	for o := enroll.Outcome(0); o < 32; o++ {
		if n := s.Outcomes[o]; n > 0 {
			outs = append(outs, fmt.Sprintf("%s %d", o, n))
		}
	}
	row("outcomes", fmt.Sprint(outs))
	for i, c := range s.Causes[:min(len(s.Causes), maxCauses)] {
		k := ""
		if i == 0 {
			k = "causes (not verified)"
		}
		cause := c.Cause
		if cause == "" {
			cause = "(no cause recorded)"
		}
		row(k, fmt.Sprintf("%d %s: %s", c.N, c.Outcome, cause))
	}
	if rest := s.Causes[min(len(s.Causes), maxCauses):]; len(rest) > 0 {
		n := 0
		for _, c := range rest {
			n += c.N
		}
		row("", fmt.Sprintf("%d calls with %d other causes", n, len(rest)))
	}
	row("call setup rate", fmt.Sprintf("%.1f answered/s", s.SetupRate))
	row("peak active calls", fmt.Sprint(s.PeakActive))
	for _, src := range []dtmf.Source{dtmf.SourceRFC4733, dtmf.SourceInband} {
		if n := s.LatN[src]; n > 0 {
			l := s.Latency[src]
			row("key→verified "+src.String(), fmt.Sprintf("p50 %s  p99 %s  max %s  (n=%d; key's start on the line → decision)", ms(l[0]), ms(l[1]), ms(l[2]), n))
		}
	}
	if p := &s.Pacing; p.Frames > 0 {
		row("RTP pacing error (sender)", fmt.Sprintf("p50 %s  p99 %s  max %s  (%d frames, deadline → sendto returned; %d walks late > 2ms, %d ticks skipped)",
			ms(p.LagQuantile(0.5)), ms(p.LagQuantile(0.99)), ms(p.MaxLag), p.Frames, p.Late, p.Skipped))
	}
	row("wall time", s.Wall.Round(time.Millisecond).String())
	row("CPU per call", fmt.Sprintf("%.1f ms (user+system of the whole process)", float64(s.CPUPerCall)/1e6))
	row("peak RSS", fmt.Sprintf("%.1f MiB", float64(s.PeakRSS)/(1<<20)))
	row("memory per active call", fmt.Sprintf("heap %.1f KiB, RSS %.1f KiB (growth at the peak ÷ active calls)", s.HeapPerCall/1024, s.RSSPerCall/1024))
	for _, e := range extra {
		row(e[0], e[1])
	}
	tw.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/1e6) }

// runLoadCalls is `denwa call --calls N`: the load run, its summary, and
// exit code 0 only when every call was verified.
func runLoadCalls(ctx context.Context, stdout io.Writer, d *sip.Dialer, prompts *audio.Catalog, dc enroll.DialogueConfig, number string, o callOptions) error {
	if o.calls < 1 || o.rate < 0 || o.maxConcurrent < 0 {
		return &exitError{code: 2, msg: "call: --calls must be at least 1, --rate and --max-concurrent not negative"}
	}
	spec := loadSpec{Calls: o.calls, Rate: o.rate, MaxConcurrent: o.maxConcurrent, Limit: o.loadLimit,
		Dialers: []*sip.Dialer{d}, Prompts: prompts, Dialogue: dc, Number: func(int) string { return number }}
	res := runLoad(ctx, spec)
	sum := summarize(spec, res)
	sum.print(stdout)
	if sum.Outcomes[enroll.OutcomeVerified] != spec.Calls {
		return &exitError{code: 1, msg: fmt.Sprintf("call: %d of %d calls verified", sum.Outcomes[enroll.OutcomeVerified], spec.Calls)}
	}
	return nil
}

// heapLive is the heap the last GC found live (garbage not yet collected
// would overstate what a call keeps).
func heapLive() uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is the process's high-water RSS in bytes (Linux reports KiB).
func peakRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss * 1024
}

// currentRSS is the process's resident set now, from /proc/self/statm
// (0 where that does not exist).
func currentRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
