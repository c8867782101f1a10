package tuning

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// TestCheckThisHost checks 100,000 connections against this host's real
// readings: with a hard open-files limit below what one process needs
// (20,000 on this project's machines), the check fails and names the
// processes needed.
func TestCheckThisHost(t *testing.T) {
	const connections = 100000
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		t.Fatal(err)
	}
	host := LocalHost()
	report, err := host.Check(connections, 1)
	if err != nil {
		t.Fatal(err)
	}
	hard := report.row(t, "RLIMIT_NOFILE hard")
	if hard.Current != fmt.Sprint(limit.Max) {
		t.Errorf("hard limit read as %s, getrlimit says %d", hard.Current, limit.Max)
	}
	if limit.Max >= connections+ReservedFiles {
		if hard.Status != StatusOK || report.ProcessesNeeded != 0 {
			t.Errorf("hard limit %d holds %d connections, yet %s and %d processes", limit.Max, connections, hard.Status, report.ProcessesNeeded)
		}
		return
	}
	if report.OK {
		t.Fatalf("hard limit %d, below %d connections, passes the check", limit.Max, connections)
	}
	perProcess := limit.Max - ReservedFiles
	want := int((connections + perProcess - 1) / perProcess)
	if report.ProcessesNeeded != want {
		t.Errorf("%d processes needed, want %d at a hard limit of %d", report.ProcessesNeeded, want, limit.Max)
	}
	var out strings.Builder
	if err := report.Render(&out); err != nil {
		t.Fatal(err)
	}
	if phrase := fmt.Sprintf("need %d processes", want); !strings.Contains(out.String(), phrase) {
		t.Errorf("no %q in\n%s", phrase, out.String())
	}
	raisable, err := host.canRaiseHardLimits()
	wantStatus := StatusShort
	if err == nil && !raisable {
		wantStatus = StatusCannotRaise
		if !strings.Contains(out.String(), "cannot be raised here") {
			t.Errorf("without CAP_SYS_RESOURCE, no \"cannot be raised here\" in\n%s", out.String())
		}
	}
	if hard.Status != wantStatus {
		t.Errorf("hard limit %s, want %s (CAP_SYS_RESOURCE %v, %v)", hard.Status, wantStatus, raisable, err)
	}
}

func TestReaders(t *testing.T) {
	tests := []struct {
		name    string
		tree    tree
		read    func(Host) (any, error)
		want    any
		wantErr error
	}{
		{"sysctl", tunedTree(), func(h Host) (any, error) { return h.sysctl("net.ipv4.tcp_mem", 3) }, []uint64{1000000, 1333333, 2000000}, nil},
		{"sysctl missing", tunedTree(), func(h Host) (any, error) { return h.sysctl("net.core.nothing", 1) }, nil, ErrMissing},
		{"sysctl too few numbers", tunedTree(), func(h Host) (any, error) { return h.sysctl("fs.nr_open", 2) }, nil, ErrUnparsable},
		{"sysctl not a number", tunedTree().with("sys/fs/nr_open", "-1\n"), func(h Host) (any, error) { return h.sysctl("fs.nr_open", 1) }, nil, ErrUnparsable},
		{"memory", tunedTree(), func(h Host) (any, error) { return h.memoryAvailable() }, uint64(23673884 * 1024), nil},
		{"memory in another unit", tunedTree().with("meminfo", "MemAvailable: 5 MB\n"), func(h Host) (any, error) { return h.memoryAvailable() }, nil, ErrUnparsable},
		{"memory missing", tunedTree().with("meminfo", ""), func(h Host) (any, error) { return h.memoryAvailable() }, nil, ErrMissing},
		{"capabilities with CAP_SYS_RESOURCE", tunedTree(), func(h Host) (any, error) { return h.canRaiseHardLimits() }, true, nil},
		{"capabilities without", tunedTree().with("self/status", "CapEff:\t"+withoutSysResource+"\n"), func(h Host) (any, error) { return h.canRaiseHardLimits() }, false, nil},
		{"capabilities not hex", tunedTree().with("self/status", "CapEff:\txyz\n"), func(h Host) (any, error) { return h.canRaiseHardLimits() }, nil, ErrUnparsable},
		{"capabilities absent", tunedTree().with("self/status", "Name:\tx\n"), func(h Host) (any, error) { return h.canRaiseHardLimits() }, nil, ErrUnparsable},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, err := test.read(test.tree.host(t, enough))
			if !errors.Is(err, test.wantErr) {
				t.Fatalf("error %v, want %v", err, test.wantErr)
			}
			if err == nil && fmt.Sprint(got) != fmt.Sprint(test.want) {
				t.Errorf("got %v, want %v", got, test.want)
			}
		})
	}
}

func TestLocalHostReads(t *testing.T) {
	host := LocalHost()
	limit, err := host.openFiles()
	if err != nil || limit.Hard == 0 || limit.Soft > limit.Hard {
		t.Fatalf("open files %+v, %v", limit, err)
	}
	if _, err := host.canRaiseHardLimits(); err != nil {
		t.Errorf("capabilities: %v", err)
	}
	if available, err := host.memoryAvailable(); err != nil || available == 0 {
		t.Errorf("MemAvailable %d, %v", available, err)
	}
	if values, err := host.sysctl("net.ipv4.tcp_mem", 3); err != nil || values[2] == 0 {
		t.Errorf("tcp_mem %v, %v", values, err)
	}
}
