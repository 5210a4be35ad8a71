package dtmf

// Clock32 extends 32-bit RTP timestamps (RFC 3550 §5.1) to a 64-bit timeline
// that never wraps. Each timestamp is placed on the side of the previous one
// that is nearest, so reordered packets from just before a wrap land before
// it. The first timestamp seen maps to itself. The zero value is ready.
type Clock32 struct {
	last  int64
	valid bool
}

// Extend returns ts on the 64-bit timeline.
func (c *Clock32) Extend(ts uint32) int64 {
	if !c.valid {
		c.valid = true
		c.last = int64(ts)
		return c.last
	}
	d := int64(int32(ts - uint32(c.last)))
	v := c.last + d
	if d > 0 {
		c.last = v
	}
	return v
}

// Reset forgets the timeline; the next timestamp maps to itself.
func (c *Clock32) Reset() { *c = Clock32{} }
