package tuning

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Capability sets of a self/status file.
const (
	withSysResource    = "000001ffffffffff"
	withoutSysResource = "000001fffeffffff" // this project's machines: root without CAP_SYS_RESOURCE
)

// tree is a fake proc tree: file paths under its root and their contents.
type tree map[string]string

// tunedTree is a host tuned for 1,000,000 connections.
func tunedTree() tree {
	return tree{
		"sys/fs/nr_open":                     "1048576\n",
		"sys/fs/file-max":                    "2097152\n",
		"sys/net/core/somaxconn":             "4096\n",
		"sys/net/ipv4/tcp_max_syn_backlog":   "4096\n",
		"sys/net/ipv4/ip_local_port_range":   "1024\t65535\n",
		"sys/net/ipv4/tcp_mem":               "1000000\t1333333\t2000000\n",
		"sys/net/ipv4/tcp_rmem":              "4096\t4096\t6291456\n",
		"sys/net/ipv4/tcp_wmem":              "4096\t4096\t4194304\n",
		"sys/net/netfilter/nf_conntrack_max": "1048576\n",
		"meminfo":                            "MemTotal:       24684084 kB\nMemFree:        20000000 kB\nMemAvailable:   23673884 kB\n",
		"self/status":                        "Name:\tedgetune\nCapInh:\t0000000000000000\nCapEff:\t" + withSysResource + "\n",
	}
}

// defaultTree is a host as the kernel sets it up on 24 GiB, untuned, with
// connection tracking loaded.
func defaultTree() tree {
	return tree{
		"sys/fs/nr_open":                     "1048576\n",
		"sys/fs/file-max":                    "2466170\n",
		"sys/net/core/somaxconn":             "4096\n",
		"sys/net/ipv4/tcp_max_syn_backlog":   "512\n",
		"sys/net/ipv4/ip_local_port_range":   "32768\t60999\n",
		"sys/net/ipv4/tcp_mem":               "287898\t383867\t575796\n",
		"sys/net/ipv4/tcp_rmem":              "4096\t131072\t6291456\n",
		"sys/net/ipv4/tcp_wmem":              "4096\t16384\t4194304\n",
		"sys/net/netfilter/nf_conntrack_max": "262144\n",
		"meminfo":                            "MemTotal:       24684084 kB\nMemAvailable:   23673884 kB\n",
		"self/status":                        "Name:\tedgetune\nCapEff:\t" + withSysResource + "\n",
	}
}

// with returns a copy with path set to content; "" removes the file.
func (t tree) with(path, content string) tree {
	changed := maps.Clone(t)
	if content == "" {
		delete(changed, path)
	} else {
		changed[path] = content
	}
	return changed
}

// setSysctl sets a sysctl by name, as sysctl -w would.
func (t tree) setSysctl(name, value string) {
	t["sys/"+strings.ReplaceAll(name, ".", "/")] = value + "\n"
}

// host writes the tree into a temporary directory and returns a Host that
// reads it, with the given open-files limit and 4 KiB pages.
func (t tree) host(tb testing.TB, limit Limit) Host {
	tb.Helper()
	root := tb.TempDir()
	for path, content := range t {
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	host := HostAt(root)
	host.OpenFiles = func() (Limit, error) { return limit, nil }
	host.PageSize = 4096
	return host
}

// row finds a report's row by setting.
func (r Report) row(tb testing.TB, setting string) Row {
	tb.Helper()
	for _, row := range r.Rows {
		if row.Setting == setting {
			return row
		}
	}
	tb.Fatalf("no row %s in %+v", setting, r.Rows)
	return Row{}
}

var errNoLimit = errors.New("tuning: test: no limit")
