package netloop

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"edgepush/internal/metricset"
)

// counter names one of the server's counters.
type counter int

const (
	counterAccepted  counter = iota // TCP connections accepted
	counterUpgraded                 // WebSocket handshakes completed
	counterHTTP                     // plain HTTP requests answered
	counterFramesIn                 // client frames read whole, control frames included
	counterBytesIn                  // bytes read
	counterMessages                 // client messages received
	counterFramesOut                // frames and responses written
	counterBytesOut                 // bytes written
	counterWrites                   // writev(2) calls
	counterBlocked                  // writes that found the socket full
	counterPings                    // keepalive pings sent
	counterDrained                  // connections sent 1001 by CloseSome (a drain)
	counterCount
)

// counterSeries are the name and help of each counter's series.
var counterSeries = [counterCount]struct{ name, help string }{
	counterAccepted:  {"edgepush_connections_accepted_total", "TCP connections accepted on the WebSocket port."},
	counterUpgraded:  {"edgepush_upgrades_total", "WebSocket handshakes completed (101 sent)."},
	counterHTTP:      {"edgepush_http_requests_total", "Requests on the WebSocket port answered with plain HTTP: files, errors and refused upgrades."},
	counterFramesIn:  {"edgepush_frames_read_total", "WebSocket frames read whole from clients, control frames included."},
	counterBytesIn:   {"edgepush_bytes_read_total", "Bytes read from clients, handshakes included."},
	counterMessages:  {"edgepush_messages_received_total", "Whole messages received from clients (fragments reassembled)."},
	counterFramesOut: {"edgepush_frames_written_total", "Frames and HTTP responses written to sockets."},
	counterBytesOut:  {"edgepush_bytes_written_total", "Bytes written to sockets."},
	counterWrites:    {"edgepush_writev_calls_total", "writev(2) calls of the writers."},
	counterBlocked:   {"edgepush_writes_blocked_total", "Writes that found a socket full; the rest waited in netpoll's buffer."},
	counterPings:     {"edgepush_pings_sent_total", "Keepalive pings sent."},
	counterDrained:   {"edgepush_drain_closes_total", "Connections sent 1001 by a drain (CloseSome)."},
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
	reasonShutdown                  // the server is shutting down, or draining
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

// rejection is why the server refused a connection it could have served:
// its own state, not the request.
type rejection int

const (
	rejectShutdown rejection = iota // accepted while the server shut down
	rejectDraining                  // an upgrade during a drain: 503
	rejectionCount
)

var rejectionNames = [rejectionCount]string{rejectShutdown: "shutdown", rejectDraining: "draining"}

// upgradeFailure is why a request did not become a WebSocket: the
// request's fault.
type upgradeFailure int

const (
	failBadRequest upgradeFailure = iota // not an HTTP/1.x request head: 400
	failTooLarge                         // the head over MaxHandshake or MaxHeaders: 431
	failTimeout                          // the head not complete within HandshakeTimeout
	failOrigin                           // an Origin not allowed: 403
	failBadKey                           // a Sec-WebSocket-Key that is not 16 bytes in base64: 400
	failHandshake                        // refused by the RFC 6455 checks: method, Upgrade, Connection, version
	failureCount
)

var failureNames = [failureCount]string{
	failBadRequest: "bad_request",
	failTooLarge:   "too_large",
	failTimeout:    "timeout",
	failOrigin:     "origin",
	failBadKey:     "bad_key",
	failHandshake:  "handshake",
}

// dropReason is why a frame was not written to a connection.
type dropReason int

const (
	dropClosed       dropReason = iota // the connection was closing or closed
	dropSlowConsumer                   // the connection was cut off for its backlog: the frame over MaxPending and all behind and before it
	dropWriteError                     // the socket failed, or stayed full past WriteTimeout
	dropCount
)

var dropNames = [dropCount]string{
	dropClosed:       "closed",
	dropSlowConsumer: "slow_consumer",
	dropWriteError:   "write_error",
}

// metrics are the server's counters; every field is updated atomically.
type metrics struct {
	counters [counterCount]atomic.Uint64
	closes   [reasonCount]atomic.Uint64
	rejected [rejectionCount]atomic.Uint64
	failed   [failureCount]atomic.Uint64
	drops    [dropCount]atomic.Uint64
	dropped  [dropCount]atomic.Uint64 // bytes
}

func (m *metrics) add(c counter, n int)         { m.counters[c].Add(uint64(n)) }
func (m *metrics) closed(r closeReason)         { m.closes[r].Add(1) }
func (m *metrics) reject(r rejection)           { m.rejected[r].Add(1) }
func (m *metrics) failUpgrade(f upgradeFailure) { m.failed[f].Add(1) }
func (m *metrics) drop(r dropReason, frames, bytes int) {
	m.drops[r].Add(uint64(frames))
	m.dropped[r].Add(uint64(bytes))
}

// Metrics returns the transport's series for a prometheus.Registry:
// connections open, accepted, rejected and closed by reason, upgrades
// failed by reason, frames and bytes in and out, frames and bytes dropped
// by reason, and the latency histograms (unless Config.NoHistograms).
func (s *Server) Metrics() prometheus.Collector {
	var set metricset.Set
	m := &s.metrics
	set.Gauge("edgepush_connections", "TCP connections open on the WebSocket port, in any phase.",
		func() float64 { return float64(s.registry.count()) })
	set.Gauge("edgepush_connections_websocket", "WebSocket connections open and not closing (those a drain closes).",
		func() float64 { return float64(s.OpenConns()) })
	set.Gauge("edgepush_draining", "1 once a drain began (upgrades get 503), else 0.",
		func() float64 { return metricset.Bool(s.Draining()) })
	for i, c := range counterSeries {
		set.Counter(c.name, c.help, m.counters[i].Load)
	}
	set.CounterBy("edgepush_connections_rejected_total", "Connections the server refused for its own state: shutdown (at accept), draining (upgrade answered 503).",
		"reason", rejectionNames[:], func(i int) uint64 { return m.rejected[i].Load() })
	set.CounterBy("edgepush_upgrades_failed_total", "Requests for /ws that did not become a WebSocket, by what was wrong with them.",
		"reason", failureNames[:], func(i int) uint64 { return m.failed[i].Load() })
	set.CounterBy("edgepush_closes_total", "Connections closed, by the first reason seen.",
		"reason", reasonNames[:], func(i int) uint64 { return m.closes[i].Load() })
	set.CounterBy("edgepush_frames_dropped_total", "Frames queued to a connection and never written, by reason.",
		"reason", dropNames[:], func(i int) uint64 { return m.drops[i].Load() })
	set.CounterBy("edgepush_bytes_dropped_total", "Bytes of the frames in edgepush_frames_dropped_total, by reason.",
		"reason", dropNames[:], func(i int) uint64 { return m.dropped[i].Load() })
	if s.latency != nil {
		set.Add(s.latency.collectors()...)
	}
	return set
}
