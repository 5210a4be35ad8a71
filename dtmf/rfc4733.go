package dtmf

// STUB: the RFC 4733 decoder's API; its body is being written.

// EventDecoderConfig tunes an EventDecoder; zero values select defaults.
type EventDecoderConfig struct {
	// Timeout ends a key whose END packet never came, in timestamp units
	// after its last packet. Zero means the default.
	Timeout int64
}

// EventDecoder turns one stream's RFC 4733 telephone-event packets into keys.
type EventDecoder struct{}

// NewEventDecoder returns a decoder for one stream.
func NewEventDecoder(cfg EventDecoderConfig) *EventDecoder { return &EventDecoder{} }

// Decode takes one telephone-event packet: its RTP sequence number, its RTP
// timestamp extended to 64 bits (Clock32), its marker bit and its payload.
// Keys that ended are appended to dst.
func (d *EventDecoder) Decode(dst []Event, seq uint16, ts int64, marker bool, payload []byte) ([]Event, error) {
	return dst, nil
}

// Advance tells the decoder the stream's time has reached now; a key whose
// END never came is ended when its timeout has passed.
func (d *EventDecoder) Advance(dst []Event, now int64) []Event { return dst }

// Flush ends the stream, appending a key still in progress.
func (d *EventDecoder) Flush(dst []Event) []Event { return dst }
