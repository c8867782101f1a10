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

func TestInspect(t *testing.T) {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	found := func(fs []Finding, setting string) bool {
		for _, f := range fs {
			if f.Setting == setting {
				return f.Value != "" && f.Want != "" && f.Why != ""
			}
		}
		return false
	}
	if fs := Inspect(int(lim.Max) + 5000); !found(fs, "RLIMIT_NOFILE") {
		t.Fatalf("no RLIMIT_NOFILE finding for more connections than the hard limit %d: %v", lim.Max, fs)
	}
	if fs := Inspect(10); found(fs, "RLIMIT_NOFILE") {
		t.Fatalf("an RLIMIT_NOFILE finding for 10 connections: %v", fs)
	}
	if v, err := LocalHost().sysctl("fs.nr_open", 1); err == nil && v[0] > 0 {
		if fs := Inspect(int(v[0]) + 1); !found(fs, "fs.nr_open") {
			t.Fatalf("no fs.nr_open finding above %d: %v", v[0], fs)
		}
	}
}
