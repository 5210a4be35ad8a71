package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// progressMin is the smallest file that gets a progress bar.
const progressMin = 16 << 20

// progress draws a bar for a long read on stderr when stderr is a terminal.
// The zero-cost case (no terminal, small file) is a nil *progress.
type progress struct {
	w     io.Writer
	name  string
	total int64
	done  atomic.Int64
	quit  chan struct{}
	wg    sync.WaitGroup
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func startProgress(w io.Writer, name string, total int64) *progress {
	if total < progressMin || !isTerminal(w) {
		return nil
	}
	p := &progress{w: w, name: name, total: total, quit: make(chan struct{})}
	p.wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				fmt.Fprintf(p.w, "\r\033[K")
				return
			case <-t.C:
				p.draw()
			}
		}
	})
	return p
}

func (p *progress) draw() {
	const width = 30
	done := min(p.done.Load(), p.total)
	filled := int(done * width / p.total)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < filled {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.w, "\r%s [%s] %3d%% %d/%d MB", p.name, bar, done*100/p.total, done>>20, p.total>>20)
}

// reader counts what r delivers.
func (p *progress) reader(r io.Reader) io.Reader {
	if p == nil {
		return r
	}
	return readerFunc(func(b []byte) (int, error) {
		n, err := r.Read(b)
		p.done.Add(int64(n))
		return n, err
	})
}

func (p *progress) stop() {
	if p == nil {
		return
	}
	close(p.quit)
	p.wg.Wait()
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }
