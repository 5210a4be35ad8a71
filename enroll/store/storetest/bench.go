package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"denwa/enroll"
)

// benchParallelism is how many goroutines per CPU the benchmarks run, as
// many HTTP requests arrive at once.
const benchParallelism = 4

// BenchCreateEnrollment measures CreateEnrollment (with its audit event)
// from concurrent goroutines spread over the stores, which are nodes
// sharing one database (or a single store); it reports enrollments/s.
func BenchCreateEnrollment(b *testing.B, stores ...enroll.Store) {
	benchParallel(b, stores, "enrollments/s", func(st enroll.Store, _ int, pb *testing.PB) error {
		for pb.Next() {
			e := NewEnrollment("bench-user", "+81312345678")
			if err := st.CreateEnrollment(b.Context(), e, []enroll.AuditEvent{event(e, enroll.ActionCreate, 0, e.State)}); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchStartCall measures what starting a call asks of the store: taking
// the global, per-user, per-number and per-IP counters together
// (AddCounters with a Max) and the compare-and-set from pending to calling
// with its audit event (UpdateEnrollment). Each goroutine keeps one
// enrollment of its own and moves it on, version after version; the
// goroutines are spread over the stores. It reports calls/s.
func BenchStartCall(b *testing.B, stores ...enroll.Store) {
	benchParallel(b, stores, "calls/s", func(st enroll.Store, w int, pb *testing.PB) error {
		ctx := b.Context()
		e := NewEnrollment(fmt.Sprint("bench-user-", w), fmt.Sprintf("+8131234%04d", w))
		if err := st.CreateEnrollment(ctx, e, nil); err != nil {
			return err
		}
		window := T0.Truncate(time.Hour)
		for pb.Next() {
			_, ok, err := st.AddCounters(ctx, []enroll.CounterChange{
				{Bucket: "calls:global", Window: window, Delta: 1, Max: 1 << 40},
				{Bucket: "calls:user:" + e.UserID, Window: window, Delta: 1, Max: 1 << 40},
				{Bucket: "calls:number:" + e.Phone, Window: window, Delta: 1, Max: 1 << 40},
				{Bucket: "calls:ip:" + e.ClientIP, Window: window, Delta: 1, Max: 1 << 40},
			})
			if err != nil || !ok {
				return fmt.Errorf("AddCounters: %v, taken %v", err, ok)
			}
			next := e
			next.Version++
			next.State, next.Attempts, next.Node = enroll.StateCalling, e.Attempts+1, "bench"
			if e.State == enroll.StateCalling {
				next.State = enroll.StatePending // back, so the next iteration starts a call again
			}
			if err := st.UpdateEnrollment(ctx, next, []enroll.AuditEvent{event(next, enroll.ActionCallStart, e.State, next.State)}, nil); err != nil {
				return err
			}
			e = next
		}
		return nil
	})
}

// benchParallel runs work in benchParallelism goroutines per CPU, worker w
// on stores[w%len(stores)], and reports the operations per second as
// unit.
func benchParallel(b *testing.B, stores []enroll.Store, unit string, work func(st enroll.Store, w int, pb *testing.PB) error) {
	var worker atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := int(worker.Add(1))
		if err := work(stores[w%len(stores)], w, pb); err != nil {
			b.Error(err)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}
