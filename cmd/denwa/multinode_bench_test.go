package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"denwa/enroll"
	"denwa/enroll/enrolltest"
	"denwa/enroll/store/postgres"
	"denwa/enroll/store/postgres/pgtest"
	"denwa/enroll/store/sqlite"
)

// BenchmarkNodes measures the enrollment service's own work on each store,
// in one run: enrollments created per second, and calls started per second
// (StartCall accepted: limits counted, the enrollment moved to calling; the
// fake dialer answers busy at once, so each call's end is written too, as
// the calls go). SQLite serves one node; PostgreSQL two nodes, each with its
// own connection pool as two processes would, the requests alternating
// between them. Limits count but do not refuse. docs/multinode.md has the
// figures:
//
//	go test -run '^$' -bench BenchmarkNodes -benchtime 3s ./cmd/denwa/
func BenchmarkNodes(b *testing.B) {
	stores := []struct {
		name  string
		nodes func(b *testing.B) []*enroll.Service
	}{
		{"sqlite-1node", sqliteNodes},
		{"postgres-2nodes", postgresNodes},
	}
	for _, st := range stores {
		b.Run(st.name+"/create", func(b *testing.B) { benchCreate(b, st.nodes(b)) })
		b.Run(st.name+"/call", func(b *testing.B) { benchCall(b, st.nodes(b)) })
	}
}

// benchService is a Service for the benchmarks on st: calls answered busy,
// limits that only count.
func benchService(b *testing.B, st enroll.Store, node string) *enroll.Service {
	d := enrolltest.NewFakeDialer()
	d.Fail(enroll.OutcomeBusy, nil)
	s, err := enroll.NewService(enroll.ServiceConfig{
		Store: st, Dialer: d, Node: node,
		Limits: enroll.Limits{PerNumber: -1, PerUser: -1, PerIP: -1, GlobalPerMinute: -1},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(context.Background()) })
	if _, err := s.Recover(b.Context()); err != nil {
		b.Fatal(err)
	}
	return s
}

func sqliteNodes(b *testing.B) []*enroll.Service {
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "denwa.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return []*enroll.Service{benchService(b, st, "")}
}

func postgresNodes(b *testing.B) []*enroll.Service {
	url := pgtest.Shared(b).URL(b)
	var nodes []*enroll.Service
	for _, name := range []string{"a", "b"} {
		st, err := postgres.Open(b.Context(), url, postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		nodes = append(nodes, benchService(b, st, name))
	}
	return nodes
}

// benchParallelism: goroutines per CPU sending requests; the work waits
// on the database more than on the CPU.
const benchParallelism = 8

var benchPhones atomic.Int64

// benchCreate creates enrollments, each for its own number, on the nodes
// in turn.
func benchCreate(b *testing.B, nodes []*enroll.Service) {
	var next atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			if _, err := nodes[i%int64(len(nodes))].Create(context.Background(), benchRequest()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// benchCall starts the calls of b.N enrollments made beforehand, on the
// nodes in turn (each enrollment on another node than the one that made
// it, when there are two).
func benchCall(b *testing.B, nodes []*enroll.Service) {
	ids := make([]string, b.N)
	for i := range ids {
		e, err := nodes[i%len(nodes)].Create(b.Context(), benchRequest())
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = e.ID
	}
	var next atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			if _, err := nodes[(i+1)%int64(len(nodes))].StartCall(context.Background(), ids[i], enroll.Origin{Actor: enroll.ActorSystem}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// benchRequest asks for an enrollment for a number of its own (Tokyo).
func benchRequest() enroll.CreateRequest {
	n := benchPhones.Add(1)
	return enroll.CreateRequest{
		UserID: fmt.Sprint("bench-", n), Phone: fmt.Sprintf("+813%08d", 10000000+n%90000000), ClientIP: "192.0.2.1",
		Origin: enroll.Origin{Actor: enroll.ActorSystem},
	}
}
