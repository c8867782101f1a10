package bench

import (
	"context"
	"maps"
	"testing"
	"time"
)

// TestResubAgainstFake runs whole storms, with worker processes, against
// the fake server, with and without faults in its replay.
func TestResubAgainstFake(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	cases := []struct {
		name     string
		fault    func(*fakeServer)
		warm     int
		caughtUp int64
		errors   map[string]uint64
	}{
		{name: "every connection catches up exactly", warm: 2, caughtUp: 120, errors: map[string]uint64{}},
		{name: "without warm-up: from seq 0", warm: 0, caughtUp: 120, errors: map[string]uint64{}},
		{name: "a duplicate in each replay", warm: 1, fault: func(f *fakeServer) { f.dupLast = true }, caughtUp: 120,
			errors: map[string]uint64{ErrDuplicate: 120}},
		{name: "the first value left out", warm: 1, fault: func(f *fakeServer) { f.dropFirst = true },
			errors: map[string]uint64{ErrMissingSeq: 120, ErrTimeout: 120}},
		{name: "gaps", warm: 1, fault: func(f *fakeServer) { f.gapAlways = true },
			errors: map[string]uint64{ErrGap: 120, ErrMissingSeq: 120 * 4}},
		{name: "acks without positions", warm: 1, fault: func(f *fakeServer) { f.noPosition = true }, caughtUp: 120,
			errors: map[string]uint64{ErrAckSeq: 120}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := startFakeServer(t, 64)
			if tc.fault != nil {
				tc.fault(f)
			}
			r, err := Resub(context.Background(), ResubConfig{
				Target: f.wsAddr(), API: f.apiAddr(), Conns: 120, Keys: 7, Pushes: 5, Warm: tc.warm, Procs: 2,
				Timeout: 2 * time.Second, Settle: 100 * time.Millisecond, Worker: testWorker,
			})
			if err != nil {
				t.Fatal(err)
			}
			check(t, r, tc.warm, tc.caughtUp, tc.errors)
		})
	}
}

func check(t *testing.T, r ResubResult, warm int, caughtUp int64, errors map[string]uint64) {
	t.Helper()
	if r.Reconnected != 120 || r.CaughtUp != caughtUp || r.Expected != 120*5 {
		t.Fatalf("reconnected %d caught up %d (want %d) expected %d", r.Reconnected, r.CaughtUp, caughtUp, r.Expected)
	}
	if !maps.Equal(r.Errors, errors) {
		t.Fatalf("errors %v, want %v", r.Errors, errors)
	}
	if len(r.BeforeErrors) != 0 {
		t.Fatalf("errors before the storm: %v", r.BeforeErrors)
	}
	if r.BeforePushes != int64(120*min(warm, 1)) {
		t.Fatalf("%d pushes before the storm, want each connection's current value with warm %d", r.BeforePushes, warm)
	}
	if caughtUp == 120 && (r.AllCaughtUpMS <= 0 || r.AllCaughtUpMS != r.CatchUpMaxMS || r.CatchUpP50MS > r.CatchUpMaxMS) {
		t.Fatalf("catch-up p50 %v max %v all %v", r.CatchUpP50MS, r.CatchUpMaxMS, r.AllCaughtUpMS)
	}
	if caughtUp < 120 && r.AllCaughtUpMS != 0 {
		t.Fatalf("all caught up %v with %d of 120", r.AllCaughtUpMS, caughtUp)
	}
}
