package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Recovery tests: the demo page, through edgepush.js, survives a server
// restart (a new epoch: one gap, then live values) and a network blink (the
// server's history fills the hole: every seq exactly once, no gap).

const (
	publishInterval = 20 * time.Millisecond
	publishLimit    = 3000 // a minute at publishInterval: a bound, never reached
	publishMaxTime  = 90 * time.Second
)

// TestChromiumRestart: the page is subscribed to demo/001 while a publisher
// posts to it every 20 ms; the server is stopped (SIGTERM) and a new one is
// started on the same ports. The page must reconnect by itself, report
// exactly one gap (reason epoch: the in-memory store started over), then
// show the new server's values in order, without a duplicate.
func TestChromiumRestart(t *testing.T) {
	requireChromium(t)
	addr, api := freeAddr(t), freeAddr(t)
	first := startServerOn(t, addr, api)
	p := startChromium(t).openPage(t)
	p.navigate(t, "http://"+addr+"/?ids=001&min-delay=100&max-delay=1000")
	p.waitSubscribed(t, "001")

	pub := startPublisher(t, api, "demo", "001", publishInterval, publishLimit, publishMaxTime, 0)
	growBy(t, p, "001", 20)
	before := pub.last()
	if code, err := first.Stop(); err != nil || code != 0 {
		t.Fatalf("stopping the first server: code %d, %v", code, err)
	}
	p.waitFor(t, "the page to notice the stop", stepTimeout, func() (bool, string) {
		states := p.states(t)
		return states[len(states)-1] != "open", fmt.Sprintf("states %v", states)
	})
	time.Sleep(500 * time.Millisecond) // down for a while; the publisher keeps trying
	startServerOn(t, addr, api)

	p.waitFor(t, "a gap on 001 after the restart", stepTimeout, func() (bool, string) {
		n := p.number(t, "gaps-001")
		return n >= 1, fmt.Sprintf("gaps-001 %d, state %q", n, p.text(t, "state"))
	})
	growBy(t, p, "001", 20)
	pub.stop()
	final := pub.last()
	if final.Epoch == before.Epoch {
		t.Fatalf("the new server's epoch %q is the old one's", final.Epoch)
	}
	waitSeq(t, p, "001", final.Seq)

	gaps := p.gaps(t, "001")
	if len(gaps) != 1 {
		t.Fatalf("gaps of 001: %+v, want exactly one", gaps)
	}
	gap := gaps[0]
	if gap.Reason != "epoch" || gap.Local {
		t.Errorf("gap %+v: want reason epoch, from the server", gap)
	}
	if gap.Epoch != final.Epoch && !(gap.Epoch == "" && gap.Seq == 0) {
		t.Errorf("gap %+v: want the new server's epoch %q (the old one was %q)", gap, final.Epoch, before.Epoch)
	}
	runs := p.runs(t, "001")
	if len(runs) != 2 {
		t.Fatalf("seqs of 001 delivered: %v, want two runs (before and after the restart)", runs)
	}
	if after := runs[1]; after[0] != max(gap.Seq, 1) || after[1] != final.Seq {
		t.Errorf("seqs after the restart: %v, want %d..%d (from the gap's seq to the last publish)", after, max(gap.Seq, 1), final.Seq)
	}
	if runs[0][1] != gap.Since {
		t.Errorf("seqs before the restart end at %d, but the gap says since %d", runs[0][1], gap.Since)
	}
	if codes := p.closes(t); !slices.Equal(codes, []int{1001}) {
		t.Errorf("close codes seen by the page: %v, want [1001] (going away)", codes)
	}
	t.Logf("runs %v, gap %+v, %d failed publishes while down", runs, gap, pub.failures())
	p.checkClean(t, "001")
}

// TestChromiumBlink: the page reaches the server through a TCP proxy; the
// proxy cuts every connection and refuses new ones for a while as the
// publisher goes on (at most blinkPublishes values until the page is back,
// well within the server's history of 64). The page must reconnect and
// receive every seq from 1 to the last, in order, once each, with no gap.
// The first blink lasts a second, so that the publisher waits for the page
// and the page gets a long replay; the second lasts 200 ms and the
// publisher does not wait, so that live pushes meet the replay. Every
// fifth value is binary, so that replayed binary pushes are checked too.
func TestChromiumBlink(t *testing.T) {
	requireChromium(t)
	const blinkPublishes = 40
	s := StartServer(t, "-history-size", "64")
	proxy := startProxy(t, s.Addr)
	p := startChromium(t).openPage(t)
	p.navigate(t, "http://"+proxy.Addr+"/?ids=001&min-delay=100&max-delay=500")
	p.waitSubscribed(t, "001")

	pub := startPublisher(t, s.API, "demo", "001", publishInterval, publishLimit, publishMaxTime, 5)
	growBy(t, p, "001", 20)
	for i, down := range []time.Duration{time.Second, 200 * time.Millisecond} {
		reconnects := countOf(p.states(t), "reconnecting")
		accepted := proxy.Accepted()
		pub.limit(blinkPublishes)
		proxy.cut(down)
		// What was published while nothing got through must come as a replay.
		seen, published := p.number(t, "seq-001"), pub.last().Seq
		if i == 0 && published < uint64(seen)+10 {
			t.Fatalf("only %d values published during the blink (page at %d, publisher at %d): the test needs a replay", published-uint64(seen), seen, published)
		}
		p.waitFor(t, "the page to reconnect through the proxy", stepTimeout, func() (bool, string) {
			states := p.states(t)
			back := countOf(states, "reconnecting") > reconnects && states[len(states)-1] == "open"
			return back && p.text(t, "state-001") == "subscribed", fmt.Sprintf("states %v", states)
		})
		pub.unlimit()
		t.Logf("blink %v: page at seq %d, publisher at %d when the proxy listened again", down, seen, published)
		if proxy.Accepted() <= accepted {
			t.Errorf("the proxy accepted %d connections, %d before the cut: want a new one", proxy.Accepted(), accepted)
		}
		growBy(t, p, "001", 20)
	}
	pub.stop()
	final := pub.last()
	waitSeq(t, p, "001", final.Seq)

	if runs := p.runs(t, "001"); len(runs) != 1 || runs[0] != [2]uint64{1, final.Seq} {
		t.Errorf("seqs of 001 delivered: %v, want exactly [[1 %d]]", runs, final.Seq)
	}
	if gaps := p.gaps(t, "001"); len(gaps) != 0 {
		t.Errorf("gaps of 001: %+v, want none", gaps)
	}
	if c := p.count(t, "001"); c != int64(final.Seq) {
		t.Errorf("count-001 is %d, want %d", c, final.Seq)
	}
	if codes := p.closes(t); !slices.Equal(codes, []int{1006, 1006}) {
		t.Errorf("close codes seen by the page: %v, want [1006 1006] (connection dropped)", codes)
	}
	t.Logf("%d values, %d publishes failed", final.Seq, pub.failures())
	p.checkClean(t, "001")
}

// growBy waits until count-ID has grown by n.
func growBy(t *testing.T, p *page, id string, n int64) {
	t.Helper()
	from := p.count(t, id)
	p.waitFor(t, fmt.Sprintf("count-%s to grow by %d", id, n), stepTimeout, func() (bool, string) {
		c := p.count(t, id)
		return c >= from+n, fmt.Sprintf("count-%s %d (from %d)", id, c, from)
	})
}

func countOf(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// waitSeq waits until the page shows seq as the last seq of id.
func waitSeq(t *testing.T, p *page, id string, seq uint64) {
	t.Helper()
	p.waitFor(t, fmt.Sprintf("seq-%s to reach %d", id, seq), stepTimeout, func() (bool, string) {
		got := p.number(t, "seq-"+id)
		return got == int64(seq), fmt.Sprintf("seq-%s %d", id, got)
	})
}
