package e2e

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
)

// TestSIGTERM: on SIGTERM every connected client gets close 1001 (going
// away) and the process exits 0.
func TestSIGTERM(t *testing.T) {
	s := StartServer(t, "-demo", "-echo")

	// A subscribed client that receives pushes, an idle one, an echo one,
	// and a coder/websocket one.
	sub := gorillaDial(t, s.WSURL("/ws"))
	gorillaSub(t, sub, "sub", "demo", []string{"001", "002"}, "s1")
	idle := gorillaDial(t, s.WSURL("/ws"))
	echo := gorillaDial(t, s.WSURL("/echo"))
	cc := coderDial(t, s.WSURL("/ws"))
	coderSub(t, cc, "sub", "demo", []string{"003"}, "s2")

	// The subscribed client gets a demo reading before the signal, so the
	// test covers a connection with traffic.
	typ, msg := gorillaRead(t, sub, "a demo push")
	if typ != websocket.TextMessage {
		t.Fatalf("demo push: type %d %q", typ, msg)
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	for name, c := range map[string]*websocket.Conn{"subscribed": sub, "idle": idle, "echo": echo} {
		err := readUntilClose(c, stopTimeout)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
			t.Errorf("%s gorilla client: %v, want close 1001", name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	for {
		_, _, err := cc.Read(ctx)
		if err == nil {
			continue
		}
		if st := coder.CloseStatus(err); st != coder.StatusGoingAway {
			t.Errorf("coder client: %v (status %d), want close 1001", err, st)
		}
		break
	}

	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		t.Fatalf("edgepush still running %v after SIGTERM", stopTimeout)
	}
	code, err := s.Stop()
	if err != nil || code != 0 {
		t.Errorf("edgepush exit: code %d, %v; want 0", code, err)
	}
}
