package bench

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func newTestLoop() *loop {
	return &loop{client: &Client{}, conns: map[int32]*bconn{}, errors: map[string]uint64{}}
}

func TestSeqAccounting(t *testing.T) {
	cases := []struct {
		name string
		seqs []uint64
		want map[string]uint64
	}{
		{name: "in order from any start", seqs: []uint64{7, 8, 9}, want: map[string]uint64{}},
		{name: "gap of two", seqs: []uint64{1, 2, 5}, want: map[string]uint64{ErrMissingSeq: 2}},
		{name: "duplicate", seqs: []uint64{1, 2, 2, 3}, want: map[string]uint64{ErrDuplicate: 1}},
		{name: "back in time", seqs: []uint64{1, 3, 2}, want: map[string]uint64{ErrMissingSeq: 1, ErrOutOfOrder: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, c := newTestLoop(), &bconn{}
			for _, s := range tc.seqs {
				l.checkSeq(c, s)
			}
			if len(l.errors) != len(tc.want) {
				t.Fatalf("errors %v, want %v", l.errors, tc.want)
			}
			for k, v := range tc.want {
				if l.errors[k] != v {
					t.Fatalf("errors %v, want %v", l.errors, tc.want)
				}
			}
		})
	}
}

// TestPushParsing feeds a binary push, split across reads, and checks the
// latency and seq it yields.
func TestPushParsing(t *testing.T) {
	payload := make([]byte, 16)
	putSendTime(payload, time.Now().Add(-5*time.Millisecond))
	push := []byte{1, 5, 'b', 'e', 'n', 'c', 'h', 1, 'k', 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 0}
	push = append(push, payload...)
	frame := ws.MustCompileFrame(ws.NewBinaryFrame(push))
	l, c := newTestLoop(), &bconn{state: stateOpen, fd: 3}
	l.conns[c.fd] = c
	used := l.consume(c, frame[:7])
	if used != 0 {
		t.Fatalf("consumed %d bytes of a partial frame", used)
	}
	if used = l.consume(c, frame); used != len(frame) {
		t.Fatalf("consumed %d of %d bytes", used, len(frame))
	}
	if c.lastSeq != 42 || l.client.received.Load() != 1 {
		t.Fatalf("seq %d received %d, want 42 and 1", c.lastSeq, l.client.received.Load())
	}
	if d := l.latency.Max(); d < 5*time.Millisecond || d > time.Minute {
		t.Fatalf("latency %v, want at least the 5 ms the payload was stamped before", d)
	}
}

func TestMaskedFrameIsValid(t *testing.T) {
	for _, n := range []int{0, 125, 126, 70000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		f, err := ws.ReadFrame(bytes.NewReader(maskedFrame(0x1, payload)))
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !f.Header.Masked || !f.Header.Fin || f.Header.OpCode != ws.OpText {
			t.Fatalf("%d bytes: header %+v", n, f.Header)
		}
		ws.Cipher(f.Payload, f.Header.Mask, 0)
		if !bytes.Equal(f.Payload, payload) {
			t.Fatalf("%d bytes: payload does not unmask to the original", n)
		}
	}
}

func TestShareSplitsEveryConnectionOnce(t *testing.T) {
	for _, k := range []int{1, 2, 3, 7} {
		total := 0
		for first, n := 0, 10; first < 100; first += n {
			for target := 0; target < k; target++ {
				total += share(first, n, target, k)
			}
		}
		if total != 100 {
			t.Fatalf("%d targets: %d connections assigned, want 100", k, total)
		}
	}
}

// TestSnapshotsMergeExactly: the snapshot a worker sends over JSON merges
// into the same percentiles as one histogram of all samples.
func TestSnapshotsMergeExactly(t *testing.T) {
	var whole Histogram
	parts := make([]Snapshot, 3)
	for i := 0; i < 3000; i++ {
		d := time.Duration(i*i) * time.Microsecond
		whole.Record(d)
		parts[i%3].Latency.Record(d)
		parts[i%3].Received++
	}
	parts[1].Errors = map[string]uint64{ErrTimeout: 2}
	var total Snapshot
	for _, p := range parts {
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back Snapshot
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		total.merge(back)
	}
	for _, q := range []float64{0.5, 0.99, 1} {
		if got, want := total.Latency.Quantile(q), whole.Quantile(q); got != want {
			t.Fatalf("q%v = %v merged, %v whole", q, got, want)
		}
	}
	if total.Received != 3000 || total.Errors[ErrTimeout] != 2 {
		t.Fatalf("received %d errors %v", total.Received, total.Errors)
	}
}

func TestFillRowErrorRate(t *testing.T) {
	cases := []struct {
		name     string
		pushes   int64
		snapshot Snapshot
		rate     float64
		errors   string
	}{
		{name: "all delivered", pushes: 100, snapshot: Snapshot{Received: 100}, rate: 0, errors: ""},
		{name: "two lost", pushes: 100, snapshot: Snapshot{Received: 98}, rate: 2, errors: "timeout=2"},
		{name: "duplicates count", pushes: 200, snapshot: Snapshot{Received: 200, Errors: map[string]uint64{ErrDuplicate: 1, ErrOutOfOrder: 1}}, rate: 1, errors: "duplicate_seq=1 out_of_order=1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			row := Row{Pushes: tc.pushes, Errors: map[string]uint64{}}
			fillRow(&row, tc.snapshot, 0)
			if row.ErrorRate != tc.rate {
				t.Fatalf("error rate %v, want %v", row.ErrorRate, tc.rate)
			}
			var kinds []string
			for _, k := range []string{ErrDuplicate, ErrOutOfOrder, ErrTimeout} {
				if v := row.Errors[k]; v > 0 {
					kinds = append(kinds, k+"="+itoa(v))
				}
			}
			if got := strings.Join(kinds, " "); got != tc.errors {
				t.Fatalf("errors %q, want %q", got, tc.errors)
			}
		})
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func TestMalformedPushesAreCounted(t *testing.T) {
	for _, payload := range [][]byte{{}, {1}, {2, 0, 0}, {1, 200, 'a'}} {
		l, c := newTestLoop(), &bconn{state: stateOpen, fd: 3}
		l.conns[c.fd] = c
		l.consume(c, ws.MustCompileFrame(ws.NewBinaryFrame(payload)))
		if l.errors[ErrProtocol] != 1 || l.client.received.Load() != 0 {
			t.Fatalf("push %x: errors %v received %d", payload, l.errors, l.client.received.Load())
		}
	}
}

func TestTextShowsFloorColumnOnlyWhenMeasured(t *testing.T) {
	row := Row{Conns: 1000, P99MS: 13, FloorMS: 10, Errors: map[string]uint64{}}
	var with, without strings.Builder
	WriteText(&with, Table{Rows: []Row{row}})
	row.FloorMS = 0
	WriteText(&without, Table{Rows: []Row{row}})
	if !strings.Contains(with.String(), "p99/floor") || !strings.Contains(with.String(), "1.30x") {
		t.Fatalf("with a floor:\n%s", with.String())
	}
	if strings.Contains(without.String(), "floor") {
		t.Fatalf("without a floor:\n%s", without.String())
	}
}
