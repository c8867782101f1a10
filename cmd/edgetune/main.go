// Command edgetune checks whether this host can hold a number of edgepush
// connections, and writes the sysctl.d file and the systemd unit that let
// it. Package tuning does the work; docs/tuning.md explains every limit.
//
//	edgetune check -conns 100000 [-procs 6] [-json]  # every limit against what the connections need
//	edgetune sysctl -conns 1000000 [-json]           # /etc/sysctl.d/60-edgepush.conf
//	edgetune systemd [-conns 1000000] [-json]        # /etc/systemd/system/edgepush.service
//
// check exits 0 when every limit is enough, 1 when one falls short (or
// cannot be raised here), 2 on bad flags; sysctl and systemd exit 0 or 2.
package main

//go:generate sh -c "go run . sysctl -conns 1000000 > ../../deploy/sysctl.d/60-edgepush.conf"
//go:generate sh -c "go run . systemd -conns 1000000 > ../../deploy/systemd/edgepush.service"

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"edgepush/tuning"
)

// Exit codes.
const (
	exitOK    = 0
	exitShort = 1
	exitUsage = 2
)

const usage = "usage: edgetune check -conns N [-procs P] [-json] | sysctl -conns N [-json] | systemd [-conns N] [-json]; edgetune COMMAND -h for its flags"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return check(args[1:], stdout, stderr)
	case "sysctl":
		return sysctl(args[1:], stdout, stderr)
	case "systemd":
		return systemd(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "edgetune: unknown command %q\n%s\n", args[0], usage)
	return exitUsage
}

// options are the flags of every command.
type options struct {
	connections int
	processes   int
	json        bool
	proc        string
}

// parse parses a command's flags; withProcesses adds check's own.
func parse(name string, args []string, stderr io.Writer, withProcesses bool) (options, error) {
	var o options
	flags := flag.NewFlagSet("edgetune "+name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.IntVar(&o.connections, "conns", 0, "connections the host is to hold")
	flags.BoolVar(&o.json, "json", false, "print JSON instead of text")
	if withProcesses {
		flags.IntVar(&o.processes, "procs", 1, "processes the connections are spread over (edgepush -reuseport)")
		flags.StringVar(&o.proc, "proc", "/proc", "proc tree to read sysctls, meminfo and capabilities from (the open-files limit is always this process's)")
	}
	if err := flags.Parse(args); err != nil {
		return o, err
	}
	if flags.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}
	return o, nil
}

// failed reports a flag error and returns its exit code.
func failed(name string, err error, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "edgetune %s: %v\n", name, err)
	return exitUsage
}

func check(args []string, stdout, stderr io.Writer) int {
	o, err := parse("check", args, stderr, true)
	if err != nil {
		return failed("check", err, stderr)
	}
	report, err := tuning.HostAt(o.proc).Check(o.connections, o.processes)
	if err != nil {
		return failed("check", err, stderr)
	}
	if err := output(stdout, o.json, report, report.Render); err != nil {
		fmt.Fprintf(stderr, "edgetune check: %v\n", err)
		return exitShort
	}
	if !report.OK {
		return exitShort
	}
	return exitOK
}

func sysctl(args []string, stdout, stderr io.Writer) int {
	o, err := parse("sysctl", args, stderr, false)
	if err != nil {
		return failed("sysctl", err, stderr)
	}
	conf, err := tuning.NewSysctlConf(o.connections)
	if err != nil {
		return failed("sysctl", err, stderr)
	}
	return printed("sysctl", output(stdout, o.json, conf, conf.Render), stderr)
}

func systemd(args []string, stdout, stderr io.Writer) int {
	o, err := parse("systemd", args, stderr, false)
	if err != nil {
		return failed("systemd", err, stderr)
	}
	unit, err := tuning.NewUnit(o.connections)
	if err != nil {
		return failed("systemd", err, stderr)
	}
	return printed("systemd", output(stdout, o.json, unit, unit.Render), stderr)
}

// output writes value as indented JSON, or as render writes it.
func output(w io.Writer, asJSON bool, value any, render func(io.Writer) error) error {
	if !asJSON {
		return render(w)
	}
	encoder := json.NewEncoder(w)
	encoder.SetIndent("", "  ")
	return encoder.Encode(value)
}

// printed is the exit code after printing a file.
func printed(name string, err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintf(stderr, "edgetune %s: %v\n", name, err)
		return exitShort
	}
	return exitOK
}
