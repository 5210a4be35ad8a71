package dtmf

// STUB: the in-band detector's API; its body is being written.

// Config tunes a Detector. The zero value selects the defaults documented on
// each field.
type Config struct{}

// Detector finds DTMF keys in one channel of 8 kHz linear PCM.
type Detector struct{ pos int64 }

// NewDetector returns a detector for one channel.
func NewDetector(cfg Config) *Detector { return &Detector{} }

// Process consumes samples (any length) and appends the keys that ended in
// them to dst.
func (d *Detector) Process(dst []Event, samples []int16) []Event {
	d.pos += int64(len(samples))
	return dst
}

// Flush ends the stream: a key still sounding is appended to dst.
func (d *Detector) Flush(dst []Event) []Event { return dst }

// Reset forgets all state and restarts the sample count at 0.
func (d *Detector) Reset() { d.pos = 0 }

// Pos returns the number of samples processed since creation or Reset.
func (d *Detector) Pos() int64 { return d.pos }
