package netloop

import (
	"fmt"

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
