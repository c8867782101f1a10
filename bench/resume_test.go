package bench

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestCatchUpCounts(t *testing.T) {
	cases := []struct {
		name        string
		since, want uint64
		seqs        []uint64
		complete    bool
		completedAt int // index in seqs of the push that completed the range; -1 for none
		errors      map[string]uint64
	}{
		{name: "exactly the missed pushes", since: 42, want: 45, seqs: []uint64{43, 44, 45}, complete: true, completedAt: 2, errors: map[string]uint64{}},
		{name: "nothing missed", since: 7, want: 7, seqs: nil, complete: true, completedAt: -1, errors: map[string]uint64{}},
		{name: "one missing", since: 0, want: 3, seqs: []uint64{1, 3}, completedAt: -1, errors: map[string]uint64{ErrMissingSeq: 1}},
		{name: "duplicate after completion", since: 10, want: 12, seqs: []uint64{11, 12, 12}, complete: true, completedAt: 1, errors: map[string]uint64{ErrDuplicate: 1}},
		{name: "out of order still completes", since: 10, want: 13, seqs: []uint64{11, 13, 12}, complete: true, completedAt: 2, errors: map[string]uint64{ErrOutOfOrder: 1}},
		{name: "already seen before the disconnect", since: 10, want: 11, seqs: []uint64{10, 11}, complete: true, completedAt: 1, errors: map[string]uint64{ErrStale: 1}},
		{name: "past the last publish", since: 10, want: 11, seqs: []uint64{11, 12}, complete: true, completedAt: 0, errors: map[string]uint64{ErrUnexpected: 1}},
		{name: "a gap's current value alone", since: 3, want: 70, seqs: []uint64{70}, completedAt: -1, errors: map[string]uint64{ErrMissingSeq: 66}},
		{name: "a range wider than one word", since: 0, want: 130, seqs: seqRange(1, 130), complete: true, completedAt: 129, errors: map[string]uint64{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCatchUp(tc.since, tc.want)
			completedAt := -1
			for i, s := range tc.seqs {
				if c.add(s) {
					if completedAt >= 0 {
						t.Fatalf("completed twice, at %d and %d", completedAt, i)
					}
					completedAt = i
				}
			}
			if c.complete() != tc.complete || completedAt != tc.completedAt {
				t.Fatalf("complete %v at %d, want %v at %d", c.complete(), completedAt, tc.complete, tc.completedAt)
			}
			errs := map[string]uint64{}
			c.count(errs)
			if !maps.Equal(errs, tc.errors) {
				t.Fatalf("errors %v, want %v", errs, tc.errors)
			}
		})
	}
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestParseServerText(t *testing.T) {
	cases := []struct {
		name string
		msg  string
		ok   bool
		want serverText
	}{
		{name: "text push, fast path", msg: `{"op":"data","app":"demo","id":"001","seq":43,"ts":1700000000000,"data":{"seq":1}}`, ok: true,
			want: serverText{Op: "data", Seq: 43}},
		{name: "text push with spaces, slow path", msg: `{"op": "data", "app":"demo","id":"001","seq": 44,"data":1}`, ok: true,
			want: serverText{Op: "data", ID: "001", Seq: 44}},
		{name: "ack of a sub", msg: `{"op":"ack","ref":"7","keys":{"001":{"seq":42,"epoch":"6f1c0a93d2b4e817.1"},"002":{"seq":0,"epoch":""}}}`, ok: true,
			want: serverText{Op: "ack", Ref: "7", Keys: map[string]Position{"001": {42, "6f1c0a93d2b4e817.1"}, "002": {0, ""}}}},
		{name: "plain ack", msg: `{"op":"ack","ref":"9"}`, ok: true, want: serverText{Op: "ack", Ref: "9"}},
		{name: "gap", msg: `{"op":"gap","app":"demo","id":"001","reason":"evicted","since":41,"seq":120,"epoch":"e.1"}`, ok: true,
			want: serverText{Op: "gap", ID: "001", Reason: "evicted", Since: 41, Seq: 120, Epoch: "e.1"}},
		{name: "error", msg: `{"op":"error","ref":"7","code":"rate_limited","msg":"slow down"}`, ok: true,
			want: serverText{Op: "error", Ref: "7", Code: "rate_limited"}},
		{name: "not JSON", msg: `{"op":"ack"`, ok: false},
		{name: "no op", msg: `{"seq":1}`, ok: false},
		{name: "a seq too large", msg: `{"op":"data","seq":18446744073709551616}`, ok: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseServerText([]byte(tc.msg))
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v (%+v)", ok, tc.ok, got)
			}
			if !ok {
				return
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tc.want)
			if string(gotJSON) != string(wantJSON) {
				t.Fatalf("got %s, want %s", gotJSON, wantJSON)
			}
		})
	}
}

func TestAppendSub(t *testing.T) {
	cases := []struct {
		name   string
		since  Position
		resume bool
		want   string
	}{
		{name: "plain", want: `{"op":"sub","app":"bench","ids":["001"]}`},
		{name: "with a position", since: Position{42, "6f1c.1"}, resume: true,
			want: `{"op":"sub","app":"bench","ids":["001"],"since":{"001":{"seq":42,"epoch":"6f1c.1"}}}`},
		{name: "epoch not known: the seq alone", since: Position{Seq: 41}, resume: true,
			want: `{"op":"sub","app":"bench","ids":["001"],"since":{"001":41}}`},
		{name: "an epoch that needs escaping", since: Position{1, "a\"b\x00"}, resume: true,
			want: `{"op":"sub","app":"bench","ids":["001"],"since":{"001":{"seq":1,"epoch":"a\"b\u0000"}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendSub(nil, "bench", "001", tc.since, tc.resume))
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("%s is not JSON", got)
			}
		})
	}
}

func TestJSONValueSize(t *testing.T) {
	for _, size := range []int{0, 26, 27, 34, 35, 36, 40, 64, 200} {
		for _, n := range []int{0, 999, 1234} {
			v := JSONValue(size, n)
			if want := max(size, 26); len(v) != want {
				t.Fatalf("size %d: %d bytes %s, want %d", size, len(v), v, want)
			}
			var reading struct {
				Value float64 `json:"value"`
				Unit  string  `json:"unit"`
			}
			if err := json.Unmarshal(v, &reading); err != nil || reading.Unit != "C" || reading.Value < 20 || reading.Value >= 30 {
				t.Fatalf("size %d: %s reads as %+v, %v", size, v, reading, err)
			}
		}
	}
	if string(JSONValue(40, 153)) != `{"value":21.53,"unit":"C","pad":"xxxxx"}` {
		t.Fatalf("40 bytes: %s", JSONValue(40, 153))
	}
}

func TestKeyID(t *testing.T) {
	for k, want := range map[int]string{0: "001", 9: "010", 998: "999", 999: "1000", 99999: "100000"} {
		if got := KeyID(k); got != want {
			t.Fatalf("KeyID(%d) = %q, want %q", k, got, want)
		}
	}
}

// resumeLoop is a loop of a client resuming connection 0 from since,
// to catch up to want.
func resumeLoop(since Position, want uint64) (*loop, *bconn) {
	cfg := ClientConfig{Conns: 1, Start: time.Now().Add(-time.Second), Track: true,
		ID: func(int) string { return "001" }, Resume: func(int) (Position, uint64) { return since, want }}
	client := &Client{cfg: cfg, recs: []connRecord{{track: newCatchUp(since.Seq, want)}}}
	l := &loop{client: client, conns: map[int32]*bconn{}, errors: map[string]uint64{}}
	client.loops = []*loop{l}
	// An fd no test process has open: a dropped connection closes it.
	c := &bconn{fd: 1 << 24, state: stateSubscribing, started: time.Now().Add(-10 * time.Millisecond).UnixNano()}
	l.conns[c.fd] = c
	l.busy = 1
	return l, c
}

func textFrames(msgs ...string) []byte {
	var b []byte
	for _, m := range msgs {
		b = append(b, ws.MustCompileFrame(ws.NewTextFrame([]byte(m)))...)
	}
	return b
}

func data(seq int) string {
	return `{"op":"data","app":"bench","id":"001","seq":` + itoa(uint64(seq)) + `,"ts":1,"data":{"value":21.53}}`
}

// TestResumingConnection feeds a resuming connection the server's answer
// and replay, split across reads, and checks what it counts.
func TestResumingConnection(t *testing.T) {
	ack := func(seq int, epoch string) string {
		return `{"op":"ack","keys":{"001":{"seq":` + itoa(uint64(seq)) + `,"epoch":"` + epoch + `"}}}`
	}
	cases := []struct {
		name     string
		msgs     []string
		caughtUp bool
		errors   map[string]uint64
		finished int64 // 0: the connection waits for more, until the run's end
	}{
		{name: "ack then the missed pushes", msgs: []string{ack(45, "E"), data(43), data(44), data(45)}, caughtUp: true, errors: map[string]uint64{}, finished: 1},
		{name: "a duplicate", msgs: []string{ack(45, "E"), data(43), data(44), data(44), data(45)}, caughtUp: true, errors: map[string]uint64{ErrDuplicate: 1}, finished: 1},
		{name: "a gap instead", msgs: []string{ack(45, "E"), `{"op":"gap","app":"bench","id":"001","reason":"evicted","since":42,"seq":45,"epoch":"E"}`, data(45)},
			errors: map[string]uint64{ErrGap: 1, ErrMissingSeq: 2}, finished: 1},
		{name: "the ack's position is not the last publish", msgs: []string{ack(44, "E"), data(43), data(44)},
			errors: map[string]uint64{ErrAckSeq: 1, ErrMissingSeq: 1, ErrTimeout: 1}},
		{name: "another epoch", msgs: []string{ack(45, "F"), data(43), data(44), data(45)}, caughtUp: true, errors: map[string]uint64{ErrEpoch: 1}, finished: 1},
		{name: "refused", msgs: []string{`{"op":"error","code":"rate_limited","msg":""}`},
			errors: map[string]uint64{"subscribe:rate_limited": 1, ErrMissingSeq: 3}, finished: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, c := resumeLoop(Position{42, "E"}, 45)
			frames := textFrames(tc.msgs...)
			// Two reads, the first ending inside a frame.
			used := l.consume(c, frames[:5])
			rest := append(frames[used:5:5], frames[5:]...)
			if l.conns[c.fd] == c {
				l.consume(c, rest)
			}
			s, expected, received := l.client.Resumed()
			if got := s.CaughtUp == 1; got != tc.caughtUp {
				t.Fatalf("caught up %v, want %v; errors %v", got, tc.caughtUp, s.Errors)
			}
			if tc.caughtUp && (s.CatchUp.Total != 1 || s.CatchUp.Max() < time.Second || s.CatchUpOwn.Max() >= time.Second) {
				t.Fatalf("catch-up times: from the start %v, from the connect %v", s.CatchUp.Max(), s.CatchUpOwn.Max())
			}
			if !maps.Equal(s.Errors, tc.errors) {
				t.Fatalf("errors %v, want %v", s.Errors, tc.errors)
			}
			if expected != 3 || received != 3-tc.errors[ErrMissingSeq] {
				t.Fatalf("expected %d received %d", expected, received)
			}
			if l.client.Finished() != tc.finished {
				t.Fatalf("finished %d, want %d", l.client.Finished(), tc.finished)
			}
		})
	}
}

// TestTrackedPositions: a tracked connection's position is the ack's
// epoch with the highest seq it saw.
func TestTrackedPositions(t *testing.T) {
	cfg := ClientConfig{Conns: 2, Track: true, ID: func(int) string { return "001" }}
	client := &Client{cfg: cfg, recs: make([]connRecord, 2)}
	l := &loop{client: client, conns: map[int32]*bconn{}, errors: map[string]uint64{}}
	a := &bconn{fd: 1 << 24, index: 0, state: stateSubscribing}
	b := &bconn{fd: 1<<24 + 1, index: 1, state: stateSubscribing}
	l.conns[a.fd], l.conns[b.fd] = a, b
	l.consume(a, textFrames(`{"op":"ack","keys":{"001":{"seq":5,"epoch":"E"}}}`, data(5), data(6)))
	l.consume(b, textFrames(`{"op":"ack","keys":{"001":{"seq":7,"epoch":"E"}}}`))
	positions, known := client.Positions()
	if positions[0] != (Position{6, "E"}) || positions[1] != (Position{7, "E"}) || !known[0] || !known[1] {
		t.Fatalf("positions %v known %v", positions, known)
	}
	if len(l.errors) != 0 {
		t.Fatalf("errors %v", l.errors)
	}
}

func TestFillResub(t *testing.T) {
	var catchUp Histogram
	for _, d := range []time.Duration{10, 20, 30} {
		catchUp.Record(d * time.Millisecond)
	}
	cases := []struct {
		name     string
		conns    int
		caughtUp int64
		all      float64
		summary  string
	}{
		{name: "all caught up", conns: 3, caughtUp: 3, all: 30, summary: "all caught up: 30.0 ms"},
		{name: "one short", conns: 4, caughtUp: 3, all: 0, summary: "all caught up: no (3 of 4)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ResubResult{Conns: tc.conns}
			fillResub(&r, Snapshot{Subscribed: int64(tc.conns), CaughtUp: tc.caughtUp, CatchUp: catchUp, Errors: map[string]uint64{ErrTimeout: 1, ErrGap: 0}})
			// Quantiles are bucket edges, within 0.8%.
			if r.AllCaughtUpMS != tc.all || r.CatchUpMaxMS != 30 || r.CatchUpP50MS < 20 || r.CatchUpP50MS > 20.2 {
				t.Fatalf("all %v max %v p50 %v", r.AllCaughtUpMS, r.CatchUpMaxMS, r.CatchUpP50MS)
			}
			if !maps.Equal(r.Errors, map[string]uint64{ErrTimeout: 1}) {
				t.Fatalf("errors %v: zero counts are left out", r.Errors)
			}
			if !strings.Contains(r.String(), tc.summary) {
				t.Fatalf("summary lacks %q:\n%s", tc.summary, r.String())
			}
		})
	}
}
