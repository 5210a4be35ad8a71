package media

import (
	"fmt"
	"net/netip"
)

// Renegotiation: what an in-dialog offer (AnswerReoffer, or the answer to
// our own Reoffer) changes in a running Session.

// Direction returns the session's direction, ours (SendRecv unless
// Update or SetDirection said otherwise).
func (s *Session) Direction() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.direction()
}

func (s *Session) direction() string {
	if s.dir == "" {
		return SendRecv
	}
	return s.dir
}

// SetDirection sets the session's direction, ours (RFC 3264 §5.1):
// SendRecv and SendOnly send, RecvOnly and Inactive send nothing. Anything
// but SendRecv is a hold: the media timeout does not run then (a held far
// end often sends nothing) and starts afresh when SendRecv comes back.
//
// While nothing is sent the stream's timeline goes on: each tick still
// advances the timestamp by a frame, the sequence number does not move,
// and the first packet afterwards carries the marker bit (RFC 3550 §5.1,
// RFC 3551 §4.1: a gap in the audio like a talkspurt's start). A prompt
// being played, or a key being pressed, waits meanwhile and goes on where
// it stopped: Play returns later by the length of the hold.
func (s *Session) SetDirection(dir string) error {
	switch dir {
	case SendRecv, SendOnly, RecvOnly, Inactive:
	default:
		return fmt.Errorf("%w: direction %q", ErrConfig, dir)
	}
	s.mu.Lock()
	s.dir = dir
	s.mu.Unlock()
	s.held.Store(dir != SendRecv)
	return nil
}

// sends reports whether the direction lets the session send. Under mu.
func (s *Session) sends() bool {
	return s.dir == "" || s.dir == SendRecv || s.dir == SendOnly
}

// Update applies a renegotiated session (Reanswer.Media, or ParseAnswer's
// result with its Direction turned to ours by AnswerDirection): the
// direction as SetDirection does; Remote, when it differs, becomes where
// RTP goes and the only source it is accepted from (a learned source is
// given up, and may be learned anew from the new address); the codec and
// payload types to send with, and those accepted. A Remote with an
// unspecified address (an RFC 2543 hold) keeps the current one. Frames
// given to Play stay in the codec the session started with
// (SessionConfig.Codec): after a change of codec the session converts them.
// On error nothing changes.
func (s *Session) Update(a Answer) error {
	if a.Codec != KindPCMU && a.Codec != KindPCMA {
		return fmt.Errorf("%w: session codec %s is not PCMU or PCMA", ErrConfig, a.Codec)
	}
	pt := a.PayloadType
	if pt == 0 {
		pt = staticPT(a.Codec)
	}
	if pt > 127 || a.EventPT > 127 || (a.EventPT != 0 && a.EventPT == pt) {
		return fmt.Errorf("%w: payload types %d (audio) and %d (events)", ErrConfig, pt, a.EventPT)
	}
	remote := netip.AddrPortFrom(a.Remote.Addr().Unmap(), a.Remote.Port())
	dir := a.Direction
	if dir == "" {
		dir = SendRecv
	}
	if !remote.IsValid() || remote.Addr().IsUnspecified() || remote.Port() == 0 {
		remote = netip.AddrPort{}
		if a.Remote.Addr().IsUnspecified() {
			dir = Inactive
		}
	}
	if remote.IsValid() && len(s.cfg.MediaNetworks) > 0 && !inNetworks(s.cfg.MediaNetworks, remote.Addr()) {
		return fmt.Errorf("%w: remote %v is outside the media networks %v", ErrForeignRemote, remote, s.cfg.MediaNetworks)
	}
	receive := a.Receive
	if receive == (PayloadTypes{}) {
		receive = DefaultPayloadTypes()
		receive[pt] = a.Codec
		if a.EventPT != 0 {
			receive[a.EventPT] = KindTelephoneEvent
		}
	}
	if err := s.SetDirection(dir); err != nil {
		return err
	}
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	s.receive = receive
	s.recv.cfg.PayloadTypes = receive
	moved := remote.IsValid() && remote != s.sdp
	if moved {
		s.sdp, s.sdpHeard, s.cand, s.candN = remote, false, netip.AddrPort{}, 0
		s.recv.cfg.Src = remote
	}
	s.mu.Lock()
	s.codec, s.pt, s.eventPT = a.Codec, pt, a.EventPT
	s.mu.Unlock()
	if moved {
		s.setSource(remote, false)
		s.log.Info("media: the far end moved its media", "local", s.local, "remote", remote)
	}
	return nil
}
