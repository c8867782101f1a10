package tuning

import "fmt"

// openFilesRows are the rows of the soft and hard RLIMIT_NOFILE; when the
// hard limit is below what one process needs, also the processes the
// connections need at that limit and a note on what to do.
func (h Host) openFilesRows(p plan) ([]Row, int, []string) {
	soft := Row{
		Setting: "RLIMIT_NOFILE soft",
		Needed:  fmt.Sprint(p.files),
		Why:     "open files of one process, one per connection (this process's limit: a process started the same way gets it); edgepush and edgebench raise it to the hard limit at start",
	}
	hard := Row{
		Setting: "RLIMIT_NOFILE hard",
		Needed:  fmt.Sprint(p.files),
		Why:     "the most the soft limit can be raised to; raising the hard limit needs CAP_SYS_RESOURCE",
	}
	limit, err := h.openFiles()
	if err != nil {
		return []Row{soft.unknown(err), hard.unknown(err)}, 0, nil
	}
	soft.Current, hard.Current = fmt.Sprint(limit.Soft), fmt.Sprint(limit.Hard)
	if limit.Hard >= p.files {
		soft.Status, hard.Status = StatusOK, StatusOK
		if limit.Soft < p.files {
			soft.Needed += " (raised at start)"
		}
		return []Row{soft, hard}, 0, nil
	}
	needed := processesAt(p.connections, limit.Hard)
	raisable, capabilityErr := h.canRaiseHardLimits()
	if raisable || capabilityErr != nil {
		hard.Status, hard.Fixes = StatusShort, raiseFixes(p.files)
	} else {
		hard.Status, hard.Fixes = StatusCannotRaise, spreadFixes(p.files, needed)
	}
	soft.Status = hard.Status // soft <= hard < files
	soft.Fixes = []string{"raise the hard limit (the next row); edgepush and edgebench raise the soft one to it at start"}
	note := openFilesNote(p, limit.Hard, needed, raisable, capabilityErr)
	return []Row{soft, hard}, int(needed), []string{note}
}

// processesAt is how many processes hold connections at a hard limit of
// open files, each keeping ReservedFiles; 0 when none can.
func processesAt(connections, hard uint64) uint64 {
	if hard <= ReservedFiles {
		return 0
	}
	return divideUp(connections, hard-ReservedFiles)
}

// raiseFixes raise the open-files limit to files where a process may.
func raiseFixes(files uint64) []string {
	return []string{
		fmt.Sprintf("systemd unit: LimitNOFILE=%d", files),
		fmt.Sprintf("/etc/security/limits.conf: * - nofile %d", files),
		fmt.Sprintf("shell, as root: ulimit -n %d", files),
	}
}

// spreadFixes are what is left when this host cannot raise the limit:
// more processes, or a higher limit given from outside.
func spreadFixes(files, processes uint64) []string {
	outside := fmt.Sprintf("outside this host: start it with more (docker run --ulimit nofile=%d:%d, or LimitNOFILE=%d in the unit that starts it)", files, files, files)
	if processes == 0 {
		return []string{outside}
	}
	spread := fmt.Sprintf("run %d edgepush processes with -reuseport on one -listen port, each its own -api; check with -procs %d", processes, processes)
	return []string{spread, outside}
}

// openFilesNote says in words what a short hard limit means here.
func openFilesNote(p plan, hard, processes uint64, raisable bool, capabilityErr error) string {
	spread := spreadNote(p, hard, processes)
	switch {
	case capabilityErr != nil:
		return fmt.Sprintf("RLIMIT_NOFILE: the hard limit %d is below the %d files one process needs, and this process's capabilities could not be read (%v), so whether it can be raised here is unknown. %s", hard, p.files, capabilityErr, spread)
	case raisable:
		return fmt.Sprintf("RLIMIT_NOFILE: the hard limit %d is below the %d files one process needs; this process holds CAP_SYS_RESOURCE, so raise it (the fixes above), or: %s", hard, p.files, spread)
	default:
		return fmt.Sprintf("RLIMIT_NOFILE cannot be raised here: the hard limit is %d, below the %d files one process needs, and this process has no CAP_SYS_RESOURCE. %s", hard, p.files, spread)
	}
}

// spreadNote says how many processes the connections need at a hard
// limit, and how to run them and their load clients.
func spreadNote(p plan, hard, processes uint64) string {
	if processes == 0 {
		return fmt.Sprintf("At %d no process can hold a connection beside the %d files it keeps.", hard, ReservedFiles)
	}
	return fmt.Sprintf("%d connections need %s at this hard limit (%d connections each, %d files kept for listeners and the API): "+
		"run %d edgepush processes with -reuseport on one -listen port, each its own -api, and check again with -procs %d. "+
		"Load clients have the same limit per process: spread them over processes too, each from its own source address 127.0.0.1, 127.0.0.2, ... (edgebench -sources).",
		p.connections, plural(processes, "process", "processes"), hard-ReservedFiles, ReservedFiles, processes, processes)
}
