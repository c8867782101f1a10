package metricset

import (
	"bytes"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Text returns what collectors expose, in the Prometheus text format, as
// a registry of their own serves it: for tests and tools.
func Text(collectors ...prometheus.Collector) (string, error) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(Set(collectors)); err != nil {
		return "", fmt.Errorf("metricset: register: %w", err)
	}
	families, err := reg.Gather()
	if err != nil {
		return "", fmt.Errorf("metricset: gather: %w", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return "", fmt.Errorf("metricset: encode %s: %w", f.GetName(), err)
		}
	}
	return buf.String(), nil
}
