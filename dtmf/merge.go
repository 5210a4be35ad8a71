package dtmf

// STUB: the merger's API; its body is being written.

// Merger joins one stream's RFC 4733 and in-band keys so that one press
// yields one key, preferring the RFC 4733 event.
type Merger struct{}

// Add takes one event from either source and appends the keys now certain to dst.
func (m *Merger) Add(dst []Event, ev Event) []Event { return append(dst, ev) }

// Advance releases held keys whose twin can no longer arrive by now.
func (m *Merger) Advance(dst []Event, now int64) []Event { return dst }

// Flush releases every held key.
func (m *Merger) Flush(dst []Event) []Event { return dst }
