package peers

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"denwa/media/mediatest"
)

// BaresipConfig configures a baresip phone. Zero values are documented
// per field.
type BaresipConfig struct {
	// User is the account's user: baresip takes only calls whose
	// Request-URI user is this. Zero: "baresip".
	User string
	// Keys are sent as RFC 4733 events (baresip's only way, and only when
	// telephone-event was offered) in every call, the first KeyDelay
	// after it is established, the next KeyGap apart. Zero: none.
	Keys string
	// KeyDelay and KeyGap; zero: 500 ms and 400 ms.
	KeyDelay, KeyGap time.Duration
}

// Baresip is a running baresip that answers every call for its account.
// It is driven through its ctrl_tcp module (netstring-framed JSON).
type Baresip struct {
	*Proc
	// SIP is the address the phone takes calls on (UDP and TCP; baresip
	// also takes the next port over TCP for itself).
	SIP  netip.AddrPort
	User string
	Dir  string

	ctrl   net.Conn
	wmu    sync.Mutex
	events chan baresipEvent
}

type baresipEvent struct {
	Event bool   `json:"event"`
	Type  string `json:"type"`
	Param string `json:"param"`
}

var baresipReady = regexp.MustCompile(`baresip is ready\.`)

// StartBaresip runs baresip from a configuration directory in
// t.TempDir(), with auto-answer, silence as its microphone and the
// ctrl_tcp module; it returns once the SIP port and the control
// connection are up.
func StartBaresip(t testing.TB, cfg BaresipConfig) *Baresip {
	t.Helper()
	bin := mediatest.RequireTool(t, "baresip")
	if cfg.User == "" {
		cfg.User = "baresip"
	}
	if cfg.KeyDelay == 0 {
		cfg.KeyDelay = 500 * time.Millisecond
	}
	if cfg.KeyGap == 0 {
		cfg.KeyGap = 400 * time.Millisecond
	}
	lo := netip.MustParseAddr("127.0.0.1")
	b := &Baresip{Dir: t.TempDir(), User: cfg.User, events: make(chan baresipEvent, 64)}
	b.SIP = netip.AddrPortFrom(lo, uint16(FreePort(t, lo, 1)))
	ctrl := netip.AddrPortFrom(lo, uint16(FreePort(t, lo, 0)))
	rtp := FreePort(t, lo, 19)
	audio := filepath.Join(b.Dir, "silence.wav")
	writeSilence(t, audio, 10*time.Second)
	writeFile(t, filepath.Join(b.Dir, "config"), fmt.Sprintf(`poll_method epoll
sip_listen %s
net_interface 127.0.0.1
audio_player aufile,%s
audio_source aufile,%s
audio_alert aufile,%s
rtp_ports %d-%d
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module account.so
module menu.so
module ctrl_tcp.so
ctrl_tcp_listen %s
`, b.SIP, filepath.Join(b.Dir, "heard.wav"), audio, audio, rtp, rtp+19, ctrl))
	writeFile(t, filepath.Join(b.Dir, "accounts"), fmt.Sprintf("<sip:%s@%s>;regint=0;answermode=auto\n", cfg.User, b.SIP))
	writeFile(t, filepath.Join(b.Dir, "contacts"), "")
	cmd := exec.Command(bin, "-f", b.Dir)
	cmd.Dir = b.Dir
	b.Proc = start(t, "baresip", cmd)
	b.WaitOutput(t, baresipReady, 0, StartTimeout)
	b.waitPorts(t, []netip.AddrPort{b.SIP}, nil)
	c, err := net.DialTimeout("tcp", ctrl.String(), StartTimeout)
	if err != nil {
		t.Fatalf("peers: baresip ctrl_tcp: %v", err)
	}
	b.ctrl = c
	t.Cleanup(func() { c.Close() })
	go b.readEvents()
	if cfg.Keys != "" {
		goUntilCleanup(t, func(ctx context.Context) { b.pressOnEstablished(ctx, cfg.Keys, cfg.KeyDelay, cfg.KeyGap) })
	}
	return b
}

// pressOnEstablished presses keys in every call once it is established.
func (b *Baresip) pressOnEstablished(ctx context.Context, keys string, delay, gap time.Duration) {
	for {
		select {
		case ev, ok := <-b.events:
			if !ok {
				return
			}
			if ev.Type != "CALL_ESTABLISHED" {
				continue
			}
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			b.SendKeys(keys, gap)
		case <-ctx.Done():
			return
		}
	}
}

// URI is the SIP URI calls to the phone's account go to.
func (b *Baresip) URI() string { return "sip:" + b.User + "@" + b.SIP.String() }

// Command sends one ctrl_tcp command, e.g. ("hangup", "").
func (b *Baresip) Command(command, params string) {
	msg, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": "denwa"})
	b.wmu.Lock()
	defer b.wmu.Unlock()
	_, _ = fmt.Fprintf(b.ctrl, "%d:%s,", len(msg), msg)
}

// SendKeys sends keys as RFC 4733 events in the call in progress, gap
// apart.
func (b *Baresip) SendKeys(keys string, gap time.Duration) {
	for i, k := range keys {
		if i > 0 {
			time.Sleep(gap) // the pace of a person pressing keys
		}
		b.Command("sndcode", string(k))
	}
}

// readEvents reads ctrl_tcp's netstrings and passes on the events (not the
// command responses) until the connection closes.
func (b *Baresip) readEvents() {
	defer close(b.events)
	r := bufio.NewReader(b.ctrl)
	for {
		head, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(head[:len(head)-1])
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		buf := make([]byte, n+1) // the payload and its ","
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		var ev baresipEvent
		if json.Unmarshal(buf[:n], &ev) == nil && ev.Event {
			select {
			case b.events <- ev:
			default: // nobody listens (no keys to press): drop
			}
		}
	}
}
