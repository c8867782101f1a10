package netloop

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"edgepush/internal/metricset"
)

// TestSlowConsumerIsCutOff: a subscriber that never reads is cut off once
// more than MaxPending bytes wait for it, with the drop counted, while a
// subscriber that reads gets every push.
func TestSlowConsumerIsCutOff(t *testing.T) {
	const pushes, size = 300, 60 << 10
	srv := startServer(t, Config{MaxPending: 256 << 10})
	stalled, stalledReader, err := rawUpgrade(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	healthy, healthyReader, err := rawUpgrade(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer healthy.Close()
	sub := clientFrame(true, 1, []byte(`{"op":"sub","app":"big","ids":["k"]}`))
	for _, c := range []struct {
		name string
		conn interface{ Write([]byte) (int, error) }
	}{{"stalled", stalled}, {"healthy", healthy}} {
		if _, err := c.conn.Write(sub); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	for _, br := range []*bufio.Reader{stalledReader, healthyReader} {
		if ack, err := readServerFrame(br); err != nil || !bytes.Contains(ack, []byte("ack")) {
			t.Fatalf("sub answer %q, %v", ack, err)
		}
	}

	received := make(chan int, 1)
	go func() {
		n := 0
		for ; n < pushes; n++ {
			if _, err := readServerFrame(healthyReader); err != nil {
				break
			}
		}
		received <- n
	}()
	payload := bytes.Repeat([]byte{7}, size)
	for i := 0; i < pushes; i++ {
		srv.handler.publish(ws.OpBinary, payload)
		time.Sleep(time.Millisecond) // let the healthy reader keep up
	}
	select {
	case n := <-received:
		if n != pushes {
			t.Fatalf("healthy subscriber got %d of %d pushes", n, pushes)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("healthy subscriber did not get every push")
	}
	if !waitFor(10*time.Second, func() bool { return srv.metrics.closes[reasonSlowConsumer].Load() == 1 }) {
		t.Fatalf("slow consumer closes = %d, want 1", srv.metrics.closes[reasonSlowConsumer].Load())
	}
	if srv.metrics.drops[dropSlowConsumer].Load() == 0 {
		t.Fatal("no drop counted for the slow consumer")
	}
	if !waitFor(10*time.Second, func() bool { return srv.handler.subscribers() == 1 }) {
		t.Fatalf("sessions after cut-off = %d, want 1: the slow one's was not ended", srv.handler.subscribers())
	}
	metrics, err := metricset.Text(srv.Metrics())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`edgepush_closes_total{reason="slow_consumer"} 1`, "edgepush_connections 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestQueuedFramesShareOneWrite: frames queued while a connection is not
// being written leave in a single writev(2).
func TestQueuedFramesShareOneWrite(t *testing.T) {
	srv := startServer(t, Config{})
	nc, br, err := rawUpgrade(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write(clientFrame(true, 1, []byte(`{"op":"sub","app":"a","ids":["k"]}`)))
	readServerFrame(br)
	var c *conn
	for _, x := range srv.registry.snapshot(nil) {
		c = x
	}
	// Hold the drain so that pushes pile up, as they do while a writer is
	// busy with other connections.
	c.mu.Lock()
	c.scheduled = true
	c.mu.Unlock()
	for i := 0; i < 10; i++ {
		srv.handler.publish(ws.OpText, []byte(`1`))
	}
	writes := srv.metrics.counters[counterWrites].Load()
	c.writer.schedule(c)
	c.writer.wake()
	for i := 0; i < 10; i++ {
		if _, err := readServerFrame(br); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	if n := srv.metrics.counters[counterWrites].Load() - writes; n != 1 {
		t.Fatalf("10 queued frames took %d writev calls, want 1", n)
	}
}
