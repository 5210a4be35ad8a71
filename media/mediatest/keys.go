package mediatest

// KeyChan is a key sink for tests of media.Session and sip.Call: each key
// handed to it is sent into the channel, which the test reads as it would
// any channel. K is media.Key (this package does not import media, whose
// own tests use it): make(mediatest.KeyChan[media.Key], 16) is a
// media.KeySink. HandleKey never blocks the session that calls it, as a
// KeySink must not: a key that finds the channel full is dropped, so make
// it larger than the number of keys the test expects.
type KeyChan[K any] chan K

// HandleKey sends k into c, or drops it when c is full.
func (c KeyChan[K]) HandleKey(k K) {
	select {
	case c <- k:
	default:
	}
}
