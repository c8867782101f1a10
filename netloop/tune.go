package netloop

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/cloudwego/netpoll"
)

// DefaultBufferSize is the input buffer a connection keeps while idle.
// netpoll's own default (a 4 KiB node at least, 8 KiB at first) costs
// more than all the rest of an idle connection; reads of larger messages
// still grow the buffer as they need (netpoll doubles its read size).
const DefaultBufferSize = 256

// TuneNetpoll sets netpoll's process-wide buffer sizes: the input buffer
// of a new connection and the smallest buffer node. Call it once, before
// any Server serves; a size of 0 takes DefaultBufferSize. It is a function
// apart from Config because netpoll keeps these settings per process, not
// per event loop.
func TuneNetpoll(bufferSize int) error {
	if bufferSize <= 0 {
		bufferSize = DefaultBufferSize
	}
	netpoll.LinkBufferCap = bufferSize
	if err := netpoll.Configure(netpoll.Config{BufferSize: bufferSize}); err != nil {
		return fmt.Errorf("netloop: configure netpoll: %w", err)
	}
	return nil
}

// LogNetpoll sends netpoll's own log lines, which it otherwise prints to
// stderr through package log (a poller error, a failed accept retried,
// a descriptor closed twice at shutdown), to logger: each line one record
// at level Warn, message "netpoll", the text in "detail". With a JSON log
// the output then stays one JSON object a line; a logger with a rate limit
// (internal/ratelog) bounds a failure netpoll repeats. Like TuneNetpoll it
// is process-wide: call it once, before any Server serves.
func LogNetpoll(logger *slog.Logger) {
	netpoll.SetLoggerOutput(netpollLog{logger})
}

// netpollLog is an io.Writer that turns each line netpoll's log.Logger
// writes into a slog record.
type netpollLog struct{ logger *slog.Logger }

func (w netpollLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	// log.LstdFlags put "2006/01/02 15:04:05 " first; slog has its own time.
	if len(line) > 20 && line[4] == '/' && line[7] == '/' && line[13] == ':' && line[19] == ' ' {
		line = line[20:]
	}
	w.logger.Warn("netpoll", "detail", strings.TrimPrefix(line, "NETPOLL: "))
	return len(p), nil
}
