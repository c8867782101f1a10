package tuning

import (
	"fmt"
	"strings"
)

// SysctlPath is where the sysctl file of edgetune sysctl goes on a host.
const SysctlPath = "/etc/sysctl.d/60-edgepush.conf"

// sysctlFixes set a sysctl now and at every boot.
func sysctlFixes(name, value string) []string {
	now := fmt.Sprintf("sysctl -w %s=%s", name, value)
	if strings.Contains(value, " ") {
		now = fmt.Sprintf("sysctl -w %s=%q", name, value)
	}
	return []string{now, fmt.Sprintf("%s: %s = %s", SysctlPath, name, value)}
}

// sourcesFix tells load clients how many source addresses to connect from
// at the range as it is.
func sourcesFix(sources uint64) string {
	return fmt.Sprintf("or, at this range, load clients connect from %d source addresses, 127.0.0.1 to %s (edgebench -sources)", sources, loopbackAddress(sources))
}

// loopbackAddress is the nth address of 127.0.0.0/8, counting 127.0.0.1
// as the first.
func loopbackAddress(n uint64) string {
	return fmt.Sprintf("127.%d.%d.%d", n>>16&0xff, n>>8&0xff, n&0xff)
}

// plural writes a count with its noun.
func plural(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// joinWords lists names as "a, b and c".
func joinWords(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// formatBytes writes a size in binary units with one decimal.
func formatBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	value, unit := float64(n), 0
	for value >= 1024 && unit < len(units)-1 {
		value /= 1024
		unit++
	}
	if unit == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", value, units[unit])
}
