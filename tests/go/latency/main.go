// Command latency measures end-to-end latency with franz-go, the way `weir bench --rate` does
// with Weir's own client: a producer (linger 0, one record per request at these rates) sends
// -rate records/s for -seconds to a fresh topic's partitions in turn, each record carrying its
// sequence number and the time it was due (so falling behind is charged, no coordinated
// omission); a consumer client in the same process reads the topic from the start and takes,
// per record, the time from due to received. It prints one JSON object: the p50, p99, p99.9 and
// max latency in ms, records sent, received, lost and duplicated, and produce errors. Every loop
// is bounded in time.
//
// The producer paces itself with nanosleep on a thread of its own: Go's timers wake at most
// once a millisecond on Linux (epoll_wait's resolution; golang/go#53824), which would charge
// up to a millisecond of the harness's own lateness to every record's latency. How late the
// producer handed records to the client is reported too (pacing_p99_ms, pacing_max_ms).
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const header = 16

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "latency: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	bootstrap := flag.String("bootstrap", "127.0.0.1:9092", "seed brokers")
	topic := flag.String("topic", "", "a fresh topic (read from its start)")
	partitions := flag.Int("partitions", 1, "the topic's partitions")
	rate := flag.Int("rate", 10000, "records per second")
	seconds := flag.Int("seconds", 10, "how long to produce")
	size := flag.Int("size", 100, "value size in bytes (at least 16)")
	acks := flag.String("acks", "all", "1 or all")
	flag.Parse()
	if *topic == "" || *size < header || *rate <= 0 || *seconds <= 0 || *partitions <= 0 {
		fail("need -topic, -size >= %d, positive -rate, -seconds and -partitions", header)
	}
	seeds := strings.Split(*bootstrap, ",")
	popts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.DefaultProduceTopic(*topic),
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(1 << 20),
	}
	if *acks == "all" {
		popts = append(popts, kgo.RequiredAcks(kgo.AllISRAcks()))
	} else {
		popts = append(popts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	}
	producer, err := kgo.NewClient(popts...)
	if err != nil {
		fail("producer: %v", err)
	}
	defer producer.Close()
	offsets := map[int32]kgo.Offset{}
	for p := 0; p < *partitions; p++ {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	consumer, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{*topic: offsets}),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		fail("consumer: %v", err)
	}
	defer consumer.Close()

	total := *rate * *seconds
	t0 := time.Now()
	deadline := t0.Add(time.Duration(*seconds)*time.Second + 10*time.Second)
	latencies := make([]int64, 0, total)
	seen := make(map[uint64]int, total)
	var consumed sync.WaitGroup
	consumed.Add(1)
	go func() {
		defer consumed.Done()
		for len(latencies) < total && time.Now().Before(deadline) {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			fetches := consumer.PollFetches(ctx)
			cancel()
			now := time.Since(t0).Nanoseconds()
			fetches.EachRecord(func(r *kgo.Record) {
				if len(r.Value) < header {
					return
				}
				seq := binary.BigEndian.Uint64(r.Value[:8])
				due := int64(binary.BigEndian.Uint64(r.Value[8:16]))
				latencies = append(latencies, now-due)
				seen[seq]++
			})
		}
	}()

	var errors atomic.Int64
	var inFlight sync.WaitGroup
	padding := make([]byte, *size-header)
	every := time.Second / time.Duration(*rate)
	lateness := make([]int64, 0, total)
	runtime.LockOSThread()
	for i := 0; i < total; i++ {
		due := time.Duration(i) * every
		if wait := time.Until(t0.Add(due)); wait > 0 {
			ts := syscall.NsecToTimespec(wait.Nanoseconds())
			// EINTR only shortens the sleep: the record is then sent a little early.
			_ = syscall.Nanosleep(&ts, nil)
		}
		lateness = append(lateness, time.Since(t0).Nanoseconds()-due.Nanoseconds())
		if time.Now().After(deadline) {
			fail("the broker did not take the load: %d of %d records sent in time", i, total)
		}
		value := make([]byte, header, *size)
		binary.BigEndian.PutUint64(value[:8], uint64(i))
		binary.BigEndian.PutUint64(value[8:16], uint64(due.Nanoseconds()))
		value = append(value, padding...)
		inFlight.Add(1)
		producer.Produce(context.Background(), &kgo.Record{Value: value, Partition: int32(i % *partitions)},
			func(_ *kgo.Record, err error) {
				if err != nil {
					errors.Add(1)
				}
				inFlight.Done()
			})
	}
	runtime.UnlockOSThread()
	produceSecs := time.Since(t0).Seconds()
	inFlight.Wait()
	consumed.Wait()

	sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
	sort.Slice(lateness, func(a, b int) bool { return lateness[a] < lateness[b] })
	quantile := func(xs []int64, q float64) float64 {
		if len(xs) == 0 {
			return 0
		}
		i := int(q*float64(len(xs))+0.5) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(xs) {
			i = len(xs) - 1
		}
		return float64(xs[i]) / 1e6
	}
	ms := func(q float64) float64 { return quantile(latencies, q) }
	duplicates := len(latencies) - len(seen)
	out := map[string]any{
		"client": "franz-go", "rate": *rate, "seconds": *seconds, "partitions": *partitions,
		"size": *size, "acks": *acks, "sent": total, "produce_errors": errors.Load(),
		"received": len(latencies), "lost": total - len(seen), "duplicates": duplicates,
		"achieved_rate": float64(total) / produceSecs,
		"p50_ms":        ms(0.5), "p99_ms": ms(0.99), "p999_ms": ms(0.999), "max_ms": ms(1.0),
		"pacing_p99_ms": quantile(lateness, 0.99), "pacing_max_ms": quantile(lateness, 1.0),
	}
	b, err := json.Marshal(out)
	if err != nil {
		fail("%v", err)
	}
	fmt.Println(string(b))
	if total-len(seen) > 0 || errors.Load() > 0 {
		os.Exit(1)
	}
}
