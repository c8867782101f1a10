package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ServerMetric reads one unlabelled value from a server's /metrics, such as
// edgepush_process_resident_bytes.
func ServerMetric(ctx context.Context, api, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+api+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bench: metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		value, ok := strings.CutPrefix(sc.Text(), name+" ")
		if ok {
			return strconv.ParseFloat(value, 64)
		}
	}
	return 0, fmt.Errorf("bench: metrics: no %s at %s", name, api)
}
