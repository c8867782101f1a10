package tuning

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSysctlConf(t *testing.T) {
	tests := []struct {
		connections int
		want        map[string]string // name: value; "" must be absent
	}{
		{1000, map[string]string{
			"fs.nr_open": "1048576", "fs.file-max": "1048576", "net.core.somaxconn": "4096", "net.ipv4.tcp_max_syn_backlog": "4096",
			"net.ipv4.ip_local_port_range": "", "net.ipv4.tcp_mem": "", "net.ipv4.tcp_rmem": "", "net.netfilter.nf_conntrack_max": "262144",
		}},
		{100000, map[string]string{
			"fs.nr_open": "1048576", "fs.file-max": "1048576", "net.ipv4.ip_local_port_range": "1024 65535",
			"net.ipv4.ip_local_reserved_ports": "8080,8081", "net.ipv4.tcp_rmem": "4096 4096 6291456", "net.ipv4.tcp_wmem": "4096 4096 4194304",
			"net.ipv4.tcp_mem": "524288 699050 1048576", // the 4 GiB floor
		}},
		{1000000, map[string]string{
			"fs.nr_open": "1048576", "fs.file-max": "2097152", "net.ipv4.tcp_mem": "1000000 1333333 2000000", "net.netfilter.nf_conntrack_max": "1048576",
		}},
		{2000000, map[string]string{"fs.nr_open": "2097152", "fs.file-max": "4194304"}},
	}
	for _, test := range tests {
		t.Run(fmt.Sprint(test.connections), func(t *testing.T) {
			conf, err := NewSysctlConf(test.connections)
			if err != nil {
				t.Fatal(err)
			}
			values := map[string]string{}
			for _, line := range conf.Lines {
				values[line.Name] = line.Value
				if line.Why == "" {
					t.Errorf("%s without a reason", line.Name)
				}
			}
			for name, want := range test.want {
				if values[name] != want {
					t.Errorf("%s = %q, want %q", name, values[name], want)
				}
			}
		})
	}
	if _, err := NewSysctlConf(0); !errors.Is(err, ErrConnections) {
		t.Errorf("0 connections: %v", err)
	}
}

func TestSysctlConfRender(t *testing.T) {
	conf, err := NewSysctlConf(1000000)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := conf.Render(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"# /etc/sysctl.d/60-edgepush.conf: kernel settings for 1000000 edgepush\n# connections on one host.",
		"\nfs.nr_open = 1048576\n",
		"\nnet.ipv4.tcp_rmem = 4096 4096 6291456\n",
		"\n-net.netfilter.nf_conntrack_max = 1048576\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.Contains(line, " = ") {
			t.Errorf("neither a comment nor a setting: %q", line)
		}
		if len(line) > noteWidth {
			t.Errorf("line of %d columns: %q", len(line), line)
		}
	}
}

// TestSysctlConfSatisfiesCheck: a default host with the sysctl file and
// the unit's open-files limit passes the check for the same connections.
func TestSysctlConfSatisfiesCheck(t *testing.T) {
	for _, connections := range []int{1000, 100000, 1000000} {
		t.Run(fmt.Sprint(connections), func(t *testing.T) {
			conf, err := NewSysctlConf(connections)
			if err != nil {
				t.Fatal(err)
			}
			unit, err := NewUnit(connections)
			if err != nil {
				t.Fatal(err)
			}
			host := defaultTree().with("sys/net/netfilter/nf_conntrack_max", "65536\n")
			for _, line := range conf.Lines {
				host.setSysctl(line.Name, line.Value)
			}
			files := Limit{Soft: unit.OpenFiles, Hard: unit.OpenFiles}
			report, err := host.host(t, files).Check(connections, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !report.OK {
				t.Errorf("short after the sysctl file: %v", report.Failing())
			}
		})
	}
}

func TestUnit(t *testing.T) {
	tests := []struct {
		connections int
		want        map[string]string // key: value in [Service]
	}{
		{0, map[string]string{"LimitNOFILE": "1048576"}},
		{1000000, map[string]string{"LimitNOFILE": "1000100", "ExecStart": "/usr/local/bin/edgepush", "Restart": "on-failure", "KillSignal": "SIGTERM", "TimeoutStopSec": "45s"}},
	}
	for _, test := range tests {
		t.Run(fmt.Sprint(test.connections), func(t *testing.T) {
			unit, err := NewUnit(test.connections)
			if err != nil {
				t.Fatal(err)
			}
			service := map[string]string{}
			for _, line := range unit.Lines {
				if line.Section == "Service" {
					service[line.Key] = line.Value
				}
			}
			for key, want := range test.want {
				if service[key] != want {
					t.Errorf("%s=%q, want %q", key, service[key], want)
				}
			}
		})
	}
	if _, err := NewUnit(-1); !errors.Is(err, ErrConnections) {
		t.Errorf("-1 connections: %v", err)
	}
}

func TestUnitRender(t *testing.T) {
	unit, err := NewUnit(1000000)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := unit.Render(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"\n[Unit]\n", "\n[Service]\n", "\n[Install]\n", "\nLimitNOFILE=1000100\n", "\nTimeoutStopSec=45s\n", "\nEnvironment=EDGEPUSH_DRAIN_TIMEOUT=30s\n", "`edgetune systemd -conns 1000000`"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}
	if strings.Index(text, "[Service]") > strings.Index(text, "LimitNOFILE") {
		t.Error("LimitNOFILE outside [Service]")
	}
}

func TestJSON(t *testing.T) {
	conf, _ := NewSysctlConf(1000000)
	unit, _ := NewUnit(1000000)
	report, err := tunedTree().host(t, enough).Check(1000000, 1)
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]any{"sysctl": conf, "unit": unit, "report": report} {
		data, err := json.Marshal(value)
		if err != nil {
			t.Fatal(err)
		}
		var back map[string]any
		if err := json.Unmarshal(data, &back); err != nil || back["lines"] == nil && back["rows"] == nil {
			t.Errorf("%s: %s, %v", name, data, err)
		}
	}
}
