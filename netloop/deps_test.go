package netloop

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTransportKnowsNoKeys fails when the transport comes to depend on the
// hub or the push protocol: it must know bytes, frames and close codes, not
// keys (see the package doc).
func TestTransportKnowsNoKeys(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "edgepush/netloop").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "edgepush/hub" || strings.HasPrefix(dep, "edgepush/hub/") || strings.HasPrefix(dep, "edgepush/netloop/") {
			t.Errorf("edgepush/netloop depends on %s", dep)
		}
	}
	if !strings.Contains(string(out), "github.com/cloudwego/netpoll") {
		t.Fatalf("go list -deps edgepush/netloop lists no netpoll: the check reads the wrong package\n%s", out)
	}
}
