package media

import (
	"math/rand/v2"
	"testing"

	"denwa/media/mediatest"
)

// BenchmarkHandlePacketImpaired is Receiver.HandlePacket for one stream of
// speech-like PCMU that arrives impaired: a fixed, seeded pattern of 500
// packets with 5% lost, 5% overtaken by the next one or two and 5%
// duplicated, repeated with the timestamps moved on. It costs the jitter
// buffer's reordering, the duplicate checks and the concealment of holes
// (dtmf.Detector.Missing).
func BenchmarkHandlePacketImpaired(b *testing.B) {
	const cycle = 500
	frames := benchFrames(cycle)
	// The arrival order of one cycle: packet indices.
	rng := rand.New(rand.NewPCG(7, 7))
	var order []int
	for i := 0; i < cycle; i++ {
		switch x := rng.Float64(); {
		case x < 0.05: // lost
		case x < 0.10 && i+2 < cycle: // overtaken by the next one or two
			k := 1 + rng.IntN(2)
			for j := 1; j <= k; j++ {
				order = append(order, i+j)
			}
			order = append(order, i)
			i += k
		case x < 0.15: // duplicated
			order = append(order, i, i)
		default:
			order = append(order, i)
		}
	}
	bufs := make([][]byte, len(frames))
	for i, f := range frames {
		bufs[i] = mediatest.RTP(0x1234, 0, 0, 0, false, f)
	}
	for _, jc := range []struct {
		name string
		cfg  JitterConfig
	}{{"buffer", JitterConfig{}}, {"off", JitterConfig{Off: true}}} {
		b.Run(jc.name, func(b *testing.B) {
			cfg := benchReceiverConfig()
			setJitter(&cfg, jc.cfg)
			r, err := NewReceiver(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
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
			for b.Loop() {
				if err := send(n); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if st := r.Streams()[0].Stats; st.Packets != int64(n) {
				b.Fatalf("%d packets sent, stream stats %+v", n, st)
			}
		})
	}
}

// setJitter sets the jitter buffer of a receiver's configuration.
func setJitter(c *ReceiverConfig, j JitterConfig) { c.Jitter = j }
