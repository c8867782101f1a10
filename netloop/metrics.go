package netloop

import (
	"fmt"
	"io"
	"sync/atomic"
)

// counter names one of the server's counters.
type counter int

const (
	counterAccepted  counter = iota // TCP connections accepted
	counterUpgraded                 // WebSocket handshakes completed
	counterHTTP                     // plain HTTP requests answered
	counterMessages                 // client messages received
	counterFramesOut                // frames and responses written
	counterBytesOut                 // bytes written
	counterWrites                   // writev(2) calls
	counterBlocked                  // writes that found the socket full
	counterPings                    // keepalive pings sent
	counterDrained                  // connections sent 1001 by CloseSome (a drain)
	counterCount
)

var counterNames = [counterCount]string{
	counterAccepted:  "edgepush_connections_accepted_total",
	counterUpgraded:  "edgepush_upgrades_total",
	counterHTTP:      "edgepush_http_requests_total",
	counterMessages:  "edgepush_messages_received_total",
	counterFramesOut: "edgepush_frames_written_total",
	counterBytesOut:  "edgepush_bytes_written_total",
	counterWrites:    "edgepush_writev_calls_total",
	counterBlocked:   "edgepush_writes_blocked_total",
	counterPings:     "edgepush_pings_sent_total",
	counterDrained:   "edgepush_drain_closes_total",
}

// closeReason is why a connection ended.
type closeReason int32

const (
	reasonNone          closeReason = iota
	reasonPeerGone                  // the client hung up without a close frame
	reasonClientClose               // the client sent a close frame
	reasonHTTPDone                  // a plain HTTP response was sent
	reasonHandshakeBad              // the handshake was rejected
	reasonHandshakeSlow             // the request head took longer than HandshakeTimeout
	reasonProtocol                  // 1002
	reasonUnsupported               // 1003
	reasonBadUTF8                   // 1007
	reasonPolicy                    // 1008: too many empty fragments, or by the session
	reasonFrameSlow                 // 1008: a frame took longer than FrameTimeout, or a message than MessageTimeout
	reasonTooBig                    // 1009
	reasonNoPong                    // keepalive unanswered
	reasonSlowConsumer              // more than MaxPending queued
	reasonWriteError                // the socket failed or stayed full past WriteTimeout
	reasonShutdown                  // the server is shutting down
	reasonTryAgain                  // 1013: the session asked the client to come back
	reasonCount
)

var reasonNames = [reasonCount]string{
	reasonNone:          "unknown",
	reasonPeerGone:      "peer_gone",
	reasonClientClose:   "client_close",
	reasonHTTPDone:      "http_done",
	reasonHandshakeBad:  "handshake_rejected",
	reasonHandshakeSlow: "handshake_timeout",
	reasonProtocol:      "protocol_error",
	reasonUnsupported:   "unsupported_data",
	reasonBadUTF8:       "invalid_utf8",
	reasonPolicy:        "policy",
	reasonFrameSlow:     "frame_timeout",
	reasonTooBig:        "message_too_big",
	reasonNoPong:        "no_pong",
	reasonSlowConsumer:  "slow_consumer",
	reasonWriteError:    "write_error",
	reasonShutdown:      "shutdown",
	reasonTryAgain:      "try_again",
}

// dropReason is why a frame was not written to a connection.
type dropReason int

const (
	dropClosed       dropReason = iota // the connection was closing or closed
	dropSlowConsumer                   // the connection's queue was over MaxPending
	dropCount
)

var dropNames = [dropCount]string{
	dropClosed:       "closed",
	dropSlowConsumer: "slow_consumer",
}

// metrics are the server's counters; every field is updated atomically.
type metrics struct {
	counters [counterCount]atomic.Uint64
	closes   [reasonCount]atomic.Uint64
	drops    [dropCount]atomic.Uint64
	dropped  [dropCount]atomic.Uint64 // bytes
}

func (m *metrics) add(c counter, n int) { m.counters[c].Add(uint64(n)) }
func (m *metrics) closed(r closeReason) { m.closes[r].Add(1) }
func (m *metrics) drop(r dropReason, frames, bytes int) {
	m.drops[r].Add(uint64(frames))
	m.dropped[r].Add(uint64(bytes))
}

// WriteMetrics writes the server's counters in the Prometheus text format.
func (s *Server) WriteMetrics(w io.Writer) {
	m := &s.metrics
	fmt.Fprintf(w, "# TYPE edgepush_connections gauge\nedgepush_connections %d\n", s.registry.count())
	draining := 0
	if s.Draining() {
		draining = 1
	}
	fmt.Fprintf(w, "# TYPE edgepush_draining gauge\nedgepush_draining %d\n", draining)
	for i, name := range counterNames {
		fmt.Fprintf(w, "# TYPE %s counter\n%s %d\n", name, name, m.counters[i].Load())
	}
	fmt.Fprintf(w, "# TYPE edgepush_closes_total counter\n")
	for i, name := range reasonNames {
		fmt.Fprintf(w, "edgepush_closes_total{reason=%q} %d\n", name, m.closes[i].Load())
	}
	fmt.Fprintf(w, "# TYPE edgepush_frames_dropped_total counter\n")
	for i, name := range dropNames {
		fmt.Fprintf(w, "edgepush_frames_dropped_total{reason=%q} %d\n", name, m.drops[i].Load())
	}
	fmt.Fprintf(w, "# TYPE edgepush_bytes_dropped_total counter\n")
	for i, name := range dropNames {
		fmt.Fprintf(w, "edgepush_bytes_dropped_total{reason=%q} %d\n", name, m.dropped[i].Load())
	}
}
