package media

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"denwa/media/mediatest"
)

// BenchmarkHandlePacketImpaired is Receiver.HandlePacket, parse included,
// for one stream of speech-like PCMU, with the jitter buffer and without:
// arriving in order, and impaired by a fixed, seeded pattern of 500
// packets with 5% lost, 5% overtaken by the next one or two and 5%
// duplicated, repeated with the timestamps moved on (the buffer's
// reordering, the duplicate checks and the concealment of holes,
// dtmf.Detector.Missing). Besides ns/op it reports cpu-ns/op, the
// process's CPU time per packet, which a busy machine disturbs less.
func BenchmarkHandlePacketImpaired(b *testing.B) {
	const cycle = 500
	frames := benchFrames(cycle)
	inOrder := make([]int, cycle)
	for i := range inOrder {
		inOrder[i] = i
	}
	// The arrival order of one impaired cycle: packet indices.
	rng := rand.New(rand.NewPCG(7, 7))
	var impaired []int
	for i := 0; i < cycle; i++ {
		switch x := rng.Float64(); {
		case x < 0.05: // lost
		case x < 0.10 && i+2 < cycle: // overtaken by the next one or two
			k := 1 + rng.IntN(2)
			for j := 1; j <= k; j++ {
				impaired = append(impaired, i+j)
			}
			impaired = append(impaired, i)
			i += k
		case x < 0.15: // duplicated
			impaired = append(impaired, i, i)
		default:
			impaired = append(impaired, i)
		}
	}
	bufs := make([][]byte, len(frames))
	for i, f := range frames {
		bufs[i] = mediatest.RTP(0x1234, 0, 0, 0, false, f)
	}
	for _, o := range []struct {
		name  string
		order []int
	}{{"in-order", inOrder}, {"impaired", impaired}} {
		for _, jc := range []struct {
			name string
			cfg  JitterConfig
		}{{"buffer", JitterConfig{}}, {"off", JitterConfig{Off: true}}} {
			b.Run(o.name+"/"+jc.name, func(b *testing.B) {
				cfg := benchReceiverConfig()
				setJitter(&cfg, jc.cfg)
				r, err := NewReceiver(cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				order := o.order
				send := func(n int) error {
					i := order[n%len(order)]
					round := n / len(order)
					p := bufs[i]
					setSeqTS(p, uint16(round*cycle+i), uint32((round*cycle+i)*FrameSamples))
					return r.HandlePacket(p)
				}
				if err := send(0); err != nil { // the stream appears
					b.Fatal(err)
				}
				n := 1
				b.ReportAllocs()
				b.SetBytes(int64(len(bufs[0])))
				cpu0 := cpuTime(b)
				for b.Loop() {
					if err := send(n); err != nil {
						b.Fatal(err)
					}
					n++
				}
				b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(n-1), "cpu-ns/op")
				if st := r.Streams()[0].Stats; st.Packets != int64(n) {
					b.Fatalf("%d packets sent, stream stats %+v", n, st)
				}
			})
		}
	}
}

// cpuTime is the CPU time (user + system) the process has used: during a
// zero-allocation benchmark loop, that of the loop itself.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// setJitter sets the jitter buffer of a receiver's configuration.
func setJitter(c *ReceiverConfig, j JitterConfig) { c.Jitter = j }
