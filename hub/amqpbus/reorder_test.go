package amqpbus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"edgepush/hub"
)

func TestReorder(t *testing.T) {
	k := hub.Key{App: "a", ID: "1"}
	history := func(seqs ...uint64) func(context.Context, hub.Key, uint64) (hub.Stream, error) {
		return func(_ context.Context, _ hub.Key, since uint64) (hub.Stream, error) {
			st := hub.Stream{Recovered: true}
			for _, s := range seqs {
				if s > since {
					st.Entries = append(st.Entries, hub.Entry{Seq: s})
				}
			}
			return st, nil
		}
	}
	down := func(context.Context, hub.Key, uint64) (hub.Stream, error) {
		return hub.Stream{}, errors.New("redis down")
	}
	otherEpoch := func(context.Context, hub.Key, uint64) (hub.Stream, error) { // Redis lost the key since
		return hub.Stream{Position: hub.Position{Seq: 2, Epoch: "new"}, Recovered: true, Entries: []hub.Entry{{Seq: 2, Epoch: "new"}}}, nil
	}
	cases := []struct {
		name   string
		fill   func(context.Context, hub.Key, uint64) (hub.Stream, error)
		in     []uint64
		expire bool // let the wait end after the input
		out    string
	}{
		{name: "in order", fill: down, in: []uint64{1, 2, 3}, out: "[1 2 3]"},
		{name: "first seen starts anywhere", fill: down, in: []uint64{7, 8}, out: "[7 8]"},
		{name: "swapped", fill: down, in: []uint64{1, 3, 2, 4}, out: "[1 2 3 4]"},
		{name: "late and duplicate dropped", fill: down, in: []uint64{1, 2, 2, 1, 3}, out: "[1 2 3]"},
		{name: "hole waits", fill: down, in: []uint64{1, 3, 4}, out: "[1]"},
		{name: "hole filled from the history", fill: history(1, 2, 3, 4), in: []uint64{1, 3, 4}, expire: true, out: "[1 2 3 4]"},
		{name: "hole the history lacks is skipped", fill: history(1, 3, 4), in: []uint64{1, 3, 4}, expire: true, out: "[1 3 4]"},
		{name: "history down: skipped", fill: down, in: []uint64{1, 4}, expire: true, out: "[1 4]"},
		{name: "another epoch's history does not fill", fill: otherEpoch, in: []uint64{1, 3}, expire: true, out: "[1 3]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			r := newReorder(50*time.Millisecond, 100, tc.fill, func(m hub.Message) { got = append(got, m.Seq) })
			now := time.Unix(1000, 0)
			for _, s := range tc.in {
				r.add(hub.Message{Key: k, Entry: hub.Entry{Seq: s}}, now)
			}
			r.tick(now.Add(10*time.Millisecond), time.Minute)
			if tc.expire {
				r.tick(now.Add(time.Second), time.Minute)
			}
			if fmt.Sprint(got) != tc.out {
				t.Fatalf("delivered %v, want %s (reordered %d, filled %d, skipped %d)", got, tc.out, r.stats.reordered.Load(), r.stats.filled.Load(), r.stats.skipped.Load())
			}
		})
	}
}

// TestReorderStartsOverWithANewEpoch: after Redis lost a key its seqs
// start at 1 again, under a new epoch; they are not stale.
func TestReorderStartsOverWithANewEpoch(t *testing.T) {
	var got []string
	r := newReorder(time.Hour, 10, nil, func(m hub.Message) { got = append(got, fmt.Sprintf("%s:%d", m.Epoch, m.Seq)) })
	k := hub.Key{App: "a", ID: "1"}
	now := time.Unix(1000, 0)
	for _, m := range []hub.Entry{{Seq: 7, Epoch: "e1"}, {Seq: 8, Epoch: "e1"}, {Seq: 1, Epoch: "e2"}, {Seq: 2, Epoch: "e2"}} {
		r.add(hub.Message{Key: k, Entry: m}, now)
	}
	if fmt.Sprint(got) != "[e1:7 e1:8 e2:1 e2:2]" {
		t.Fatalf("delivered %v", got)
	}
}

func TestReorderBoundsWhatItHolds(t *testing.T) {
	var got []uint64
	r := newReorder(time.Hour, 3, func(context.Context, hub.Key, uint64) (hub.Stream, error) { return hub.Stream{}, nil }, func(m hub.Message) { got = append(got, m.Seq) })
	k := hub.Key{App: "a", ID: "1"}
	now := time.Unix(1000, 0)
	for _, s := range []uint64{1, 3, 4, 5, 6} { // 2 never comes; a fourth held message resolves at once
		r.add(hub.Message{Key: k, Entry: hub.Entry{Seq: s}}, now)
	}
	if fmt.Sprint(got) != "[1 3 4 5 6]" {
		t.Fatalf("delivered %v, want [1 3 4 5 6]", got)
	}
	r.tick(now.Add(2*time.Minute), time.Minute)
	if len(r.keys) != 0 {
		t.Fatalf("an idle key is still tracked")
	}
}
