package tuning

import (
	"os"
	"syscall"
	"testing"
)

func TestRaiseOpenFilesReachesHardLimit(t *testing.T) {
	n, err := RaiseOpenFiles()
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if n != lim.Cur || lim.Cur != lim.Max {
		t.Fatalf("returned %d; limit now %d of hard %d", n, lim.Cur, lim.Max)
	}
}

func TestResidentBytes(t *testing.T) {
	self, err := ResidentBytes()
	if err != nil {
		t.Fatal(err)
	}
	byPID, err := ResidentBytesOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if self < 1<<20 || byPID < 1<<20 {
		t.Fatalf("RSS %d and %d bytes: a Go test binary holds more than 1 MiB", self, byPID)
	}
	if _, err := ResidentBytesOf(-1); err == nil {
		t.Fatal("no error for a process that cannot exist")
	}
}
