// Package peers holds baseline servers for edgepush's benchmarks. A peer
// speaks edgepush's client protocol and publish API (docs/protocol.md) as far
// as edgebench uses them: GET /ws with sub, unsub and their answers, binary
// and text pushes with per-key sequence numbers, POST /v1/publish, /healthz,
// and the edgepush_connections and edgepush_process_resident_bytes metrics.
// edgebench therefore measures a peer unchanged, with the same flags, and
// the numbers of edgepush mean something only next to a peer's: the same
// client, the same machine, the same run.
//
// A peer is built the way the problem is commonly solved, not tuned to lose
// or to win, and it imports nothing of edgepush's serving path; only the
// memory reading (edgepush/tuning) is shared, so both sides report resident
// memory the same way.
//
//   - gorilla: gorilla/websocket with one reader and one writer goroutine
//     per connection, a bounded queue per connection, a mutex-guarded
//     subscription map and each push encoded once as a prepared message.
//
// `make bench-compare` (scripts/bench-compare.sh) runs edgebench against
// edgepush and against each peer in turn and prints the ratios.
package peers
