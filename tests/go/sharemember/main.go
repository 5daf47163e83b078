// Command sharemember is one share group member (KIP-932) of franz-go, as a process of its own so
// an end-to-end test can run several and kill -9 them. It speaks the same JSON lines as the Java
// client's `KafkaCli share` (tests/java ShareMember): {"ev":"ready"}, {"ev":"rec","p","o","v",
// "dc","ack","t"} per record handed out, {"ev":"committed","n"} after each flush of
// acknowledgements, {"ev":"error","what"}, {"ev":"closed"}. It reads "close" from stdin and closes
// by itself after -max-seconds. Every record is acknowledged: RELEASE for values in -release,
// REJECT for those in -reject, ACCEPT otherwise. -max-records and -delay-ms make a slow worker
// that takes few records at a time.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var outMu sync.Mutex

func emit(ev map[string]any) {
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func set(list string) map[string]bool {
	out := map[string]bool{}
	for _, v := range strings.Split(list, ",") {
		if v != "" {
			out[v] = true
		}
	}
	return out
}

func main() {
	bootstrap := flag.String("bootstrap", "127.0.0.1:9092", "seed brokers")
	topic := flag.String("topic", "", "topic")
	group := flag.String("group", "", "share group")
	release := flag.String("release", "", "values to RELEASE")
	reject := flag.String("reject", "", "values to REJECT")
	maxSeconds := flag.Int("max-seconds", 300, "close after this long")
	maxRecords := flag.Int("max-records", 0, "ShareMaxRecords (0: franz-go's default)")
	delayMs := flag.Int("delay-ms", 0, "sleep after each poll that returned records, as a slow worker")
	holdValues := flag.String("hold-values", "", "stop at a poll holding one of these values, acknowledging none of it")
	flag.Parse()
	rel, rej, hold := set(*release), set(*reject), set(*holdValues)

	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(*bootstrap, ",")...),
		kgo.ConsumeTopics(*topic),
		kgo.ShareGroup(*group),
		kgo.ClientID("weir-e2e-franz"),
	}
	if *maxRecords > 0 {
		opts = append(opts, kgo.ShareMaxRecords(int32(*maxRecords)), kgo.ShareMaxRecordsStrict())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		emit(map[string]any{"ev": "error", "what": err.Error()})
		os.Exit(1)
	}
	closing := make(chan struct{})
	go func() {
		s := bufio.NewScanner(os.Stdin)
		for s.Scan() {
			if strings.TrimSpace(s.Text()) == "close" {
				break
			}
		}
		close(closing)
	}()
	deadline := time.Now().Add(time.Duration(*maxSeconds) * time.Second)
	emit(map[string]any{"ev": "ready"})
	for {
		select {
		case <-closing:
			cl.Close()
			emit(map[string]any{"ev": "closed"})
			return
		default:
		}
		if time.Now().After(deadline) {
			cl.Close()
			emit(map[string]any{"ev": "closed"})
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fetches := cl.PollFetches(ctx)
		cancel()
		fetches.EachError(func(t string, p int32, err error) {
			if err != context.DeadlineExceeded && err != context.Canceled {
				emit(map[string]any{"ev": "error", "what": t + ": " + err.Error()})
			}
		})
		holding := false
		fetches.EachRecord(func(r *kgo.Record) {
			holding = holding || hold[string(r.Value)]
		})
		if holding {
			// Keep every record of this poll acquired and unacknowledged until killed.
			fetches.EachRecord(func(r *kgo.Record) {
				emit(map[string]any{"ev": "rec", "p": r.Partition, "o": r.Offset, "v": string(r.Value),
					"dc": r.DeliveryCount(), "ack": "none", "t": time.Now().UnixMilli()})
			})
			<-closing
			emit(map[string]any{"ev": "closed"})
			return
		}
		n := 0
		fetches.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			status, ack := kgo.AckAccept, "accept"
			if rel[v] {
				status, ack = kgo.AckRelease, "release"
			} else if rej[v] {
				status, ack = kgo.AckReject, "reject"
			}
			r.Ack(status)
			n++
			emit(map[string]any{"ev": "rec", "p": r.Partition, "o": r.Offset, "v": v,
				"dc": r.DeliveryCount(), "ack": ack, "t": time.Now().UnixMilli()})
		})
		if n > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := cl.FlushAcks(ctx); err != nil {
				emit(map[string]any{"ev": "error", "what": "flushing acks: " + err.Error()})
			}
			cancel()
			emit(map[string]any{"ev": "committed", "n": n})
			time.Sleep(time.Duration(*delayMs) * time.Millisecond)
		}
	}
}
