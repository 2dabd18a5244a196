// Command driver runs the official RocketMQ Go client (github.com/apache/rocketmq-client-go/v2)
// against a NameServer for tests/interop/test_go_client.py.
//
// Every observation is one JSON object on its own line of stdout; the client's own logging goes
// to stderr at level "error" (override with ROCKETMQ_GO_LOG_LEVEL). Every wait is bounded: a
// subcommand that does not finish within --timeout prints {"event":"timeout",...} and exits 2;
// any other failure prints {"event":"error",...} and exits 1.
//
//	driver produce --namesrv A --topic T --count N [--mode sync|async|oneway|batch]
//	               [--tags a,b] [--prefix P] [--pad N] [--prop k=v]... [--group G] [--timeout S]
//	driver consume --namesrv A --topic T --group G --expect N [--tag EXPR | --sql EXPR]
//	               [--fail-first] [--linger S] [--timeout S]
//
// produce sends message i with body "<prefix>-<i>" followed by --pad dots, tag
// tags[i % len(tags)], keys "key-<i> alt-<i>" and the user properties idx=<i> plus every --prop;
// it reports one "sent" event per message. consume (a clustering push consumer starting from the
// first offset) reports one "received" event per delivery and stops once --expect deliveries were
// acknowledged and --linger seconds passed without a new one.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

var (
	outMu sync.Mutex
	out   = json.NewEncoder(os.Stdout)
)

// emit writes one JSON line to stdout; safe from any goroutine.
func emit(event string, fields map[string]any) {
	fields["event"] = event
	outMu.Lock()
	defer outMu.Unlock()
	if err := out.Encode(fields); err != nil {
		fmt.Fprintln(os.Stderr, "driver: cannot write stdout:", err)
		os.Exit(1)
	}
}

func fail(stage string, err error) {
	emit("error", map[string]any{"stage": stage, "error": err.Error()})
	os.Exit(1)
}

func timedOut(stage string, fields map[string]any) {
	fields["stage"] = stage
	emit("timeout", fields)
	os.Exit(2)
}

// within runs f and gives up after d (f keeps running; the process is about to exit anyway):
// finished tells whether f returned in time, err is what it returned.
func within(d time.Duration, f func() error) (finished bool, err error) {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return true, err
	case <-time.After(d):
		return false, nil
	}
}

type props []string

func (p *props) String() string     { return strings.Join(*p, ",") }
func (p *props) Set(v string) error { *p = append(*p, v); return nil }

func main() {
	if level := os.Getenv("ROCKETMQ_GO_LOG_LEVEL"); level != "" {
		rlog.SetLogLevel(level)
	} else {
		rlog.SetLogLevel("error")
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: driver produce|consume [flags]")
		os.Exit(64)
	}
	switch os.Args[1] {
	case "produce":
		produce(os.Args[2:])
	case "consume":
		consume(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "driver: unknown subcommand %q\n", os.Args[1])
		os.Exit(64)
	}
}

// ---------------------------------------------------------------------------------- produce

func produce(args []string) {
	fs := flag.NewFlagSet("produce", flag.ExitOnError)
	namesrv := fs.String("namesrv", "", "NameServer address host:port")
	topic := fs.String("topic", "", "topic")
	count := fs.Int("count", 1, "messages to send")
	mode := fs.String("mode", "sync", "sync|async|oneway|batch")
	tags := fs.String("tags", "TagA", "comma-separated tags, message i gets tags[i % len]")
	prefix := fs.String("prefix", "go", "body prefix")
	pad := fs.Int("pad", 0, "bytes of padding appended to every body (> 4 KiB: the client compresses it)")
	group := fs.String("group", fmt.Sprintf("GO_PRODUCER_%d", os.Getpid()), "producer group")
	timeout := fs.Float64("timeout", 30, "seconds for the whole run")
	var extra props
	fs.Var(&extra, "prop", "user property k=v (repeatable)")
	_ = fs.Parse(args)
	if *namesrv == "" || *topic == "" {
		fail("args", errors.New("--namesrv and --topic are required"))
	}
	deadline := time.Duration(*timeout * float64(time.Second))
	tagList := strings.Split(*tags, ",")

	p, err := rocketmq.NewProducer(
		producer.WithNameServer([]string{*namesrv}),
		producer.WithGroupName(*group),
		producer.WithRetry(2),
		producer.WithSendMsgTimeout(5*time.Second),
	)
	if err != nil {
		fail("new producer", err)
	}
	if err := p.Start(); err != nil {
		fail("start producer", err)
	}
	emit("started", map[string]any{"role": "producer", "group": *group})

	msgs := make([]*primitive.Message, *count)
	for i := range msgs {
		body := fmt.Sprintf("%s-%d", *prefix, i) + strings.Repeat(".", *pad)
		m := primitive.NewMessage(*topic, []byte(body))
		m.WithTag(tagList[i%len(tagList)])
		m.WithKeys([]string{fmt.Sprintf("key-%d", i), fmt.Sprintf("alt-%d", i)})
		m.WithProperty("idx", strconv.Itoa(i))
		for _, kv := range extra {
			k, v, _ := strings.Cut(kv, "=")
			m.WithProperty(k, v)
		}
		msgs[i] = m
	}

	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	sent := func(i int, fields map[string]any) {
		fields["index"] = i
		fields["body"] = string(msgs[i].Body)
		fields["tags"] = msgs[i].GetTags()
		fields["keys"] = msgs[i].GetKeys()
		emit("sent", fields)
	}
	result := func(r *primitive.SendResult) map[string]any {
		return map[string]any{
			"status":      sendStatus(r.Status),
			"msgId":       r.MsgID,
			"offsetMsgId": r.OffsetMsgID,
			"brokerName":  r.MessageQueue.BrokerName,
			"queueId":     r.MessageQueue.QueueId,
			"queueOffset": r.QueueOffset,
		}
	}

	switch *mode {
	case "sync":
		for i, m := range msgs {
			r, err := p.SendSync(ctx, m)
			if err != nil {
				fail(fmt.Sprintf("send %d", i), err)
			}
			sent(i, result(r))
		}
	case "async":
		var wg sync.WaitGroup
		errs := make(chan error, len(msgs))
		for i, m := range msgs {
			i := i
			wg.Add(1)
			err := p.SendAsync(ctx, func(_ context.Context, r *primitive.SendResult, err error) {
				defer wg.Done()
				if err != nil {
					errs <- fmt.Errorf("async send %d: %w", i, err)
					return
				}
				sent(i, result(r))
			}, m)
			if err != nil {
				fail(fmt.Sprintf("send %d", i), err)
			}
		}
		if ok, _ := within(deadline, func() error { wg.Wait(); return nil }); !ok {
			timedOut("async callbacks", map[string]any{})
		}
		close(errs)
		for err := range errs {
			fail("async callback", err)
		}
	case "oneway":
		// Shutdown follows the last send at once, as in an application: what was written must
		// be stored. (This client sets no RPC_ONEWAY flag, so brokers answer these sends; the
		// answers it has not read when it closes make the kernel reset the connection.)
		for i, m := range msgs {
			if err := p.SendOneWay(ctx, m); err != nil {
				fail(fmt.Sprintf("send %d", i), err)
			}
			// The client stamps UNIQ_KEY on the message before sending it.
			sent(i, map[string]any{
				"msgId": m.GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex),
			})
		}
	case "batch":
		r, err := p.SendSync(ctx, msgs...)
		if err != nil {
			fail("send batch", err)
		}
		raw := result(r)
		emit("batch", raw)
		// The Go client stamps no UNIQ_KEY on the messages of a batch (Java's MessageBatch
		// does): its msgId is empty, the broker's offset msgIds (one per message, joined with
		// ",") identify them, and they occupy consecutive offsets from queueOffset.
		offsetIDs := strings.Split(r.OffsetMsgID, ",")
		for i := range msgs {
			fields := result(r)
			fields["queueOffset"] = r.QueueOffset + int64(i)
			fields["msgId"] = msgs[i].GetProperty(primitive.PropertyUniqueClientMessageIdKeyIndex)
			fields["offsetMsgId"] = ""
			if len(offsetIDs) == len(msgs) {
				fields["offsetMsgId"] = offsetIDs[i]
			}
			sent(i, fields)
		}
	default:
		fail("args", fmt.Errorf("unknown --mode %q", *mode))
	}

	if ok, err := within(10*time.Second, p.Shutdown); !ok {
		timedOut("producer shutdown", map[string]any{})
	} else if err != nil {
		fail("producer shutdown", err)
	}
	emit("done", map[string]any{"sent": len(msgs)})
}

func sendStatus(s primitive.SendStatus) string {
	switch s {
	case primitive.SendOK:
		return "SEND_OK"
	case primitive.SendFlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case primitive.SendFlushSlaveTimeout:
		return "FLUSH_SLAVE_TIMEOUT"
	case primitive.SendSlaveNotAvailable:
		return "SLAVE_NOT_AVAILABLE"
	default:
		return fmt.Sprintf("UNKNOWN(%d)", s)
	}
}

// ---------------------------------------------------------------------------------- consume

func consume(args []string) {
	fs := flag.NewFlagSet("consume", flag.ExitOnError)
	namesrv := fs.String("namesrv", "", "NameServer address host:port")
	topic := fs.String("topic", "", "topic")
	group := fs.String("group", "", "consumer group")
	expect := fs.Int("expect", 1, "acknowledged deliveries to wait for")
	tag := fs.String("tag", "*", "tag expression")
	sql := fs.String("sql", "", "SQL92 expression (instead of --tag)")
	failFirst := fs.Bool("fail-first", false, "answer RETRY_LATER to first deliveries (reconsumeTimes 0)")
	linger := fs.Float64("linger", 0.5, "seconds to keep consuming after the last expected delivery")
	timeout := fs.Float64("timeout", 30, "seconds to wait for --expect deliveries")
	_ = fs.Parse(args)
	if *namesrv == "" || *topic == "" || *group == "" {
		fail("args", errors.New("--namesrv, --topic and --group are required"))
	}

	selector := consumer.MessageSelector{Type: consumer.TAG, Expression: *tag}
	if *sql != "" {
		selector = consumer.MessageSelector{Type: consumer.SQL92, Expression: *sql}
	}
	c, err := rocketmq.NewPushConsumer(
		consumer.WithNameServer([]string{*namesrv}),
		consumer.WithGroupName(*group),
		consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	if err != nil {
		fail("new consumer", err)
	}

	var (
		mu    sync.Mutex
		acked int
		last  = make(chan struct{}, 1)
	)
	err = c.Subscribe(*topic, selector, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		result := consumer.ConsumeSuccess
		for _, m := range msgs {
			if *failFirst && m.ReconsumeTimes == 0 {
				result = consumer.ConsumeRetryLater
			}
		}
		for _, m := range msgs {
			fields := describe(m)
			if result == consumer.ConsumeSuccess {
				fields["result"] = "success"
			} else {
				fields["result"] = "retry_later"
			}
			emit("received", fields)
		}
		if result == consumer.ConsumeSuccess {
			mu.Lock()
			acked += len(msgs)
			mu.Unlock()
		}
		select {
		case last <- struct{}{}:
		default:
		}
		return result, nil
	})
	if err != nil {
		fail("subscribe", err)
	}
	if err := c.Start(); err != nil {
		fail("start consumer", err)
	}
	emit("started", map[string]any{"role": "consumer", "group": *group})

	count := func() int { mu.Lock(); defer mu.Unlock(); return acked }
	deadline := time.After(time.Duration(*timeout * float64(time.Second)))
	for count() < *expect {
		select {
		case <-last:
		case <-deadline:
			timedOut("consume", map[string]any{"acked": count(), "expect": *expect})
		}
	}
	// Keep listening a little: a duplicate or an unwanted message would show up here.
	quiet := time.Duration(*linger * float64(time.Second))
	for waiting := true; waiting; {
		select {
		case <-last:
		case <-time.After(quiet):
			waiting = false
		case <-deadline:
			waiting = false // deliveries never stopped; the test sees every one of them
		}
	}
	final := count()
	if ok, err := within(15*time.Second, c.Shutdown); !ok {
		timedOut("consumer shutdown", map[string]any{"acked": final})
	} else if err != nil {
		fail("consumer shutdown", err)
	}
	emit("done", map[string]any{"acked": final})
}

func describe(m *primitive.MessageExt) map[string]any {
	queueID := -1
	broker := ""
	if m.Queue != nil {
		queueID = m.Queue.QueueId
		broker = m.Queue.BrokerName
	}
	return map[string]any{
		"topic":           m.Topic,
		"body":            string(m.Body),
		"bodyB64":         base64.StdEncoding.EncodeToString(m.Body),
		"tags":            m.GetTags(),
		"keys":            m.GetKeys(),
		"properties":      m.GetProperties(),
		"flag":            m.Flag,
		"brokerName":      broker,
		"queueId":         queueID,
		"queueOffset":     m.QueueOffset,
		"msgId":           m.MsgId,
		"offsetMsgId":     m.OffsetMsgId,
		"commitLogOffset": m.CommitLogOffset,
		"storeSize":       m.StoreSize,
		"sysFlag":         m.SysFlag,
		"bodyCRC":         m.BodyCRC,
		"bornHost":        m.BornHost,
		"bornTimestamp":   m.BornTimestamp,
		"storeHost":       m.StoreHost,
		"storeTimestamp":  m.StoreTimestamp,
		"reconsumeTimes":  m.ReconsumeTimes,
	}
}
