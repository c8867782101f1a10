// Package e2e holds edgepush's end-to-end tests: they build ./cmd/edgepush,
// start it on free 127.0.0.1 ports and talk to it as independent clients do
// (npm ws, Python websockets, gorilla/websocket, coder/websocket and headless
// Chromium). The package has no code outside its tests.
//
// Dependencies outside Go (Chromium, Node.js with npm's ws, Debian's
// python3-websockets) are installed by scripts/deps.sh; a test whose
// dependency is missing is skipped, or fails when CI=true.
package e2e
