package tuning

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Errors of reading a host's settings. A Row of Check carries them as its
// Error when its Status is StatusUnknown.
var (
	// ErrMissing reports that a setting's file does not exist (an old
	// kernel, a module not loaded, or a proc tree without it).
	ErrMissing = errors.New("tuning: setting missing")
	// ErrUnparsable reports that a setting's file holds something else
	// than the numbers expected.
	ErrUnparsable = errors.New("tuning: setting unparsable")
)

// capabilitySysResource is CAP_SYS_RESOURCE's bit in a capability set: a
// process needs it to raise a hard resource limit.
const capabilitySysResource = 24

// Limit is a resource limit: the soft value the kernel enforces and the
// hard ceiling a process may raise it to without CAP_SYS_RESOURCE.
type Limit struct {
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// Host is where Check reads a host's limits from. LocalHost is the real
// one; tests give a fake proc tree and functions.
type Host struct {
	// Proc is the root of the proc filesystem: sysctls under Proc/sys,
	// Proc/meminfo.
	Proc string
	// OpenFiles returns RLIMIT_NOFILE.
	OpenFiles func() (Limit, error)
	// Capabilities returns the effective capability set: bit n set when
	// capability n is held.
	Capabilities func() (uint64, error)
	// PageSize is the unit of net.ipv4.tcp_mem, in bytes; 0 means this
	// machine's.
	PageSize int
}

// LocalHost reads this host: /proc, and the open-files limit and
// capabilities of this process, which are what a process started the same
// way (same shell, same unit, same container) gets.
func LocalHost() Host { return HostAt("/proc") }

// HostAt reads the proc tree at root (its sysctls, meminfo and
// self/status), and this process's open-files limit.
func HostAt(root string) Host {
	return Host{
		Proc:      root,
		OpenFiles: processOpenFiles,
		Capabilities: func() (uint64, error) {
			return readCapabilities(filepath.Join(root, "self", "status"))
		},
		PageSize: os.Getpagesize(),
	}
}

// processOpenFiles returns this process's RLIMIT_NOFILE.
func processOpenFiles() (Limit, error) {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		return Limit{}, fmt.Errorf("tuning: getrlimit: %w", err)
	}
	return Limit{Soft: limit.Cur, Hard: limit.Max}, nil
}

// pageSize is the Host's page size, or this machine's.
func (h Host) pageSize() uint64 {
	if h.PageSize > 0 {
		return uint64(h.PageSize)
	}
	return uint64(os.Getpagesize())
}

// openFiles calls OpenFiles, which may be unset.
func (h Host) openFiles() (Limit, error) {
	if h.OpenFiles == nil {
		return Limit{}, fmt.Errorf("%w: no open-files reader", ErrMissing)
	}
	return h.OpenFiles()
}

// canRaiseHardLimits reports whether this process holds CAP_SYS_RESOURCE;
// an error when the capabilities cannot be read.
func (h Host) canRaiseHardLimits() (bool, error) {
	if h.Capabilities == nil {
		return false, fmt.Errorf("%w: no capabilities reader", ErrMissing)
	}
	set, err := h.Capabilities()
	if err != nil {
		return false, err
	}
	return set&(1<<capabilitySysResource) != 0, nil
}

// sysctl reads the numbers of a sysctl ("net.core.somaxconn"), which must
// be count of them.
func (h Host) sysctl(name string, count int) ([]uint64, error) {
	path := filepath.Join(h.Proc, "sys", strings.ReplaceAll(name, ".", "/"))
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	values, err := parseUints(data)
	if err != nil || len(values) != count {
		return nil, fmt.Errorf("%w: %s holds %q, want %d numbers", ErrUnparsable, path, bytes.TrimSpace(data), count)
	}
	return values, nil
}

// memoryAvailable reads MemAvailable from meminfo, in bytes.
func (h Host) memoryAvailable() (uint64, error) {
	path := filepath.Join(h.Proc, "meminfo")
	data, err := readFile(path)
	if err != nil {
		return 0, err
	}
	field, ok := statusField(data, "MemAvailable")
	kibibytes, found := strings.CutSuffix(field, " kB")
	if !ok || !found {
		return 0, fmt.Errorf("%w: %s has no MemAvailable in kB", ErrUnparsable, path)
	}
	value, err := strconv.ParseUint(strings.TrimSpace(kibibytes), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: MemAvailable %q", ErrUnparsable, path, field)
	}
	return value * 1024, nil
}

// readCapabilities reads the effective capability set (CapEff, in hex)
// from a status file.
func readCapabilities(path string) (uint64, error) {
	data, err := readFile(path)
	if err != nil {
		return 0, err
	}
	field, ok := statusField(data, "CapEff")
	if !ok {
		return 0, fmt.Errorf("%w: %s has no CapEff", ErrUnparsable, path)
	}
	set, err := strconv.ParseUint(field, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: CapEff %q", ErrUnparsable, path, field)
	}
	return set, nil
}

// readFile reads a proc file; a missing one is ErrMissing, another failure
// ErrNoProc.
func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s", ErrMissing, path)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrNoProc, err)
	}
	return data, nil
}

// statusField finds the line "key: value" of a status or meminfo file and
// returns its value, trimmed.
func statusField(data []byte, key string) (string, bool) {
	lines := bufio.NewScanner(bytes.NewReader(data))
	for lines.Scan() {
		name, value, found := strings.Cut(lines.Text(), ":")
		if found && name == key {
			return strings.TrimSpace(value), true
		}
	}
	return "", false
}

// parseUints parses whitespace-separated unsigned numbers.
func parseUints(data []byte) ([]uint64, error) {
	fields := strings.Fields(string(data))
	values := make([]uint64, len(fields))
	for i, field := range fields {
		value, err := strconv.ParseUint(field, 10, 64)
		if err != nil {
			return nil, err
		}
		values[i] = value
	}
	return values, nil
}
