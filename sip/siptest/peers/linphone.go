package peers

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"denwa/media/mediatest"
)

// KeyMode is how a phone sends the keys it is asked to press: "rfc4733"
// (telephone-event RTP packets), "info" (SIP INFO requests) or "inband"
// (DTMF tones in the audio).
type KeyMode string

// The key modes.
const (
	RFC4733 KeyMode = "rfc4733"
	Info    KeyMode = "info"
	Inband  KeyMode = "inband"
)

// LinphoneConfig configures a linphonec phone. Zero values are documented
// per field.
type LinphoneConfig struct {
	// Addr is the address the SIP port is announced on. linphonec binds
	// every address. Zero: 127.0.0.1.
	Addr netip.Addr
	// Transport is "udp" or "tcp". Zero: udp.
	Transport string
	// Keys are pressed in every call, one at a time: the first KeyDelay
	// after the call is connected, the next KeyGap apart. Zero: none (see
	// SendKeys).
	Keys string
	// Mode is how keys go out. Zero: RFC4733.
	Mode KeyMode
	// KeyDelay and KeyGap; zero: 500 ms and 400 ms.
	KeyDelay, KeyGap time.Duration
	// Audio is the WAV file the phone plays as its microphone (linphonec
	// sends no RTP without one). Zero: ten seconds of silence.
	Audio string
	// Rc holds more lines for the rc file's sections, by section name
	// ("sip", "rtp", …), e.g. {"sip": {"media_encryption=srtp"}}.
	Rc map[string][]string
}

// Linphone is a running linphonec that answers every call.
type Linphone struct {
	*Proc
	// SIP is the address the phone takes calls on.
	SIP       netip.AddrPort
	Transport string
	Dir       string

	mu    sync.Mutex
	stdin io.WriteCloser
}

// Status lines linphonec prints (its -S-less console output).
var (
	linphoneConnected = regexp.MustCompile(`Call (\d+) with \S+ connected\.`)
	linphoneEnded     = regexp.MustCompile(`Call (\d+) with \S+ ended`)
	linphoneReady     = regexp.MustCompile(`Auto answer enabled\.`)
)

// StartLinphone runs linphonec with its own HOME and rc file, controlled
// through its stdin, with auto-answer on and Audio as its microphone. It
// returns once the SIP port is bound and the set-up commands are done.
func StartLinphone(t testing.TB, cfg LinphoneConfig) *Linphone {
	t.Helper()
	bin := mediatest.RequireTool(t, "linphonec")
	if !cfg.Addr.IsValid() {
		cfg.Addr = netip.MustParseAddr("127.0.0.1")
	}
	if cfg.Transport == "" {
		cfg.Transport = "udp"
	}
	switch cfg.Mode {
	case "", RFC4733, Info, Inband:
	default:
		t.Fatalf("peers: linphonec key mode %q", cfg.Mode)
	}
	if cfg.KeyDelay == 0 {
		cfg.KeyDelay = 500 * time.Millisecond
	}
	if cfg.KeyGap == 0 {
		cfg.KeyGap = 400 * time.Millisecond
	}
	l := &Linphone{Dir: t.TempDir(), Transport: cfg.Transport}
	home := filepath.Join(l.Dir, "home")
	// Without this directory linphonec opens no SIP socket.
	if err := os.MkdirAll(filepath.Join(home, ".local", "share", "linphone"), 0o700); err != nil {
		t.Fatalf("peers: %v", err)
	}
	if cfg.Audio == "" {
		cfg.Audio = filepath.Join(l.Dir, "silence.wav")
		writeSilence(t, cfg.Audio, 10*time.Second)
	}
	port := FreePort(t, cfg.Addr, 0)
	rtp := FreePort(t, cfg.Addr, 3)
	l.SIP = netip.AddrPortFrom(cfg.Addr, uint16(port))
	rc := filepath.Join(l.Dir, "linphonerc")
	writeFile(t, rc, linphoneRc(cfg, port, rtp))
	cmd := exec.Command(bin, "-c", rc, "-d", "0")
	cmd.Dir = l.Dir
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME=", "XDG_CONFIG_HOME=")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	l.stdin = stdin
	l.Proc = start(t, "linphonec", cmd)
	t.Cleanup(func() { stdin.Close() })
	l.Command("soundcard use files")
	l.Command("play " + cfg.Audio)
	l.Command("autoanswer enable")
	l.WaitOutput(t, linphoneReady, 0, StartTimeout)
	if cfg.Transport == "tcp" {
		l.waitPorts(t, nil, []netip.AddrPort{l.SIP})
	} else {
		l.waitPorts(t, []netip.AddrPort{l.SIP}, nil)
	}
	if cfg.Keys != "" {
		goUntilCleanup(t, func(ctx context.Context) { l.pressOnConnect(ctx, cfg.Keys, cfg.KeyDelay, cfg.KeyGap) })
	}
	return l
}

func linphoneRc(cfg LinphoneConfig, port, rtp int) string {
	sipPort, tcpPort := port, -1
	if cfg.Transport == "tcp" {
		sipPort, tcpPort = -1, port
	}
	rfc4733, info := 1, 0
	switch cfg.Mode {
	case "", RFC4733:
	case Info:
		rfc4733, info = 0, 1
	case Inband:
		rfc4733 = 0
	}
	sections := map[string][]string{
		"sip": {fmt.Sprintf("sip_port=%d", sipPort), fmt.Sprintf("sip_tcp_port=%d", tcpPort), "sip_tls_port=-1",
			fmt.Sprintf("use_rfc2833=%d", rfc4733), fmt.Sprintf("use_info=%d", info),
			fmt.Sprintf("use_ipv6=%d", b2i(cfg.Addr.Is6())), "guess_hostname=1", "inc_timeout=60"},
		"rtp":   {fmt.Sprintf("audio_rtp_port=%d", rtp), "audio_jitt_comp=60"},
		"sound": {"echocancellation=0"},
		"video": {"enabled=0", "capture=0", "display=0", "automatically_initiate=0", "automatically_accept=0"},
	}
	for sec, lines := range cfg.Rc {
		sections[sec] = append(sections[sec], lines...)
	}
	var b strings.Builder
	for _, sec := range []string{"sip", "rtp", "sound", "video"} {
		fmt.Fprintf(&b, "[%s]\n%s\n\n", sec, strings.Join(sections[sec], "\n"))
		delete(sections, sec)
	}
	for sec, lines := range sections {
		fmt.Fprintf(&b, "[%s]\n%s\n\n", sec, strings.Join(lines, "\n"))
	}
	return b.String()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// URI is the phone's SIP URI, without a user: a proxy keeps the dialled
// number as the user.
func (l *Linphone) URI() string {
	u := "sip:" + l.SIP.String()
	if l.Transport != "udp" {
		u += ";transport=" + l.Transport
	}
	return u
}

// Command writes one line to linphonec's console, e.g. "pause", "resume",
// "terminate". Errors (linphonec gone) are ignored: the test sees the
// call fail instead.
func (l *Linphone) Command(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.stdin, line+"\n")
}

// SendKeys types keys into the call in progress, gap apart: each goes out
// as the rc file's Mode says.
func (l *Linphone) SendKeys(keys string, gap time.Duration) {
	for i, k := range keys {
		if i > 0 {
			time.Sleep(gap) // the pace of a person pressing keys
		}
		l.Command(string(k))
	}
}

// Pause puts the call on hold (a re-INVITE with a=sendonly); Resume takes
// it off (a=sendrecv).
func (l *Linphone) Pause()  { l.Command("pause") }
func (l *Linphone) Resume() { l.Command("resume") }

// WaitConnected waits for the next call to be connected after output
// offset from and returns the offset past that line.
func (l *Linphone) WaitConnected(t testing.TB, from int) int {
	t.Helper()
	_, off := l.WaitOutput(t, linphoneConnected, from, StartTimeout)
	return off
}

// WaitEnded waits for a call to end after output offset from.
func (l *Linphone) WaitEnded(t testing.TB, from int, timeout time.Duration) int {
	t.Helper()
	_, off := l.WaitOutput(t, linphoneEnded, from, timeout)
	return off
}

// pressOnConnect presses keys in every call once it is connected (a call
// connected again after a resume is not pressed again).
func (l *Linphone) pressOnConnect(ctx context.Context, keys string, delay, gap time.Duration) {
	seen := map[string]bool{}
	from := 0
	for {
		s, wake := l.out.snapshot()
		s = s[:strings.LastIndexByte(s, '\n')+1] // whole lines only: a match may be half written
		for _, m := range linphoneConnected.FindAllStringSubmatchIndex(s[from:], -1) {
			id := s[from+m[2] : from+m[3]]
			if !seen[id] {
				seen[id] = true
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					return
				}
				l.SendKeys(keys, gap)
			}
		}
		from = len(s)
		select {
		case <-wake:
		case <-l.done:
			return
		case <-ctx.Done():
			return
		}
	}
}
