// Package tuning reads and raises the limits that decide how many
// connections a host and one process can hold: for the binaries to call at
// start, and for edgetune (cmd/edgetune) to check a host and write the
// sysctl.d file and systemd unit that raise them (docs/tuning.md).
//
//	n, err := tuning.RaiseOpenFiles()  // soft RLIMIT_NOFILE up to the hard limit
//	rss, err := tuning.ResidentBytes() // this process's RSS, from /proc
//	for _, f := range tuning.Inspect(int(n) - 1000) { log(f) } // limits too low for one process
//
//	report, err := tuning.LocalHost().Check(100000, 1) // every limit against 100,000 connections
//	report.Render(os.Stdout)                           // a table: current, needed, status, fix
//	if !report.OK { fmt.Println(report.ProcessesNeeded) } // processes needed at this hard limit
//
//	conf, err := tuning.NewSysctlConf(1000000) // /etc/sysctl.d/60-edgepush.conf
//	unit, err := tuning.NewUnit(1000000)       // edgepush.service with LimitNOFILE
//
// Check reads through a Host: a proc tree and functions for the open-files
// limit and the capabilities, so that tests give it fake ones.
package tuning

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// ErrNoProc reports that /proc could not be read (not Linux, or not mounted).
var ErrNoProc = errors.New("tuning: /proc unavailable")

// RaiseOpenFiles raises the soft limit on open files to the hard limit and
// returns the new soft limit. Raising the hard limit needs
// CAP_SYS_RESOURCE; this never tries.
func RaiseOpenFiles() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("tuning: getrlimit: %w", err)
	}
	if lim.Cur >= lim.Max {
		return lim.Cur, nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("tuning: setrlimit to %d: %w", lim.Max, err)
	}
	return lim.Cur, nil
}

// ResidentBytes returns this process's resident set size.
func ResidentBytes() (uint64, error) { return residentBytes("/proc/self/statm") }

// ResidentBytesOf returns the resident set size of process pid.
func ResidentBytesOf(pid int) (uint64, error) {
	return residentBytes("/proc/" + strconv.Itoa(pid) + "/statm")
}

// residentBytes reads the second field of a statm file, in pages.
func residentBytes(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNoProc, err)
	}
	fields := bytes.Fields(data)
	if len(fields) < 2 {
		return 0, fmt.Errorf("%w: %s has %d fields", ErrNoProc, path, len(fields))
	}
	pages, err := strconv.ParseUint(string(fields[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrNoProc, path, err)
	}
	return pages * uint64(os.Getpagesize()), nil
}
