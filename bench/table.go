package bench

// Row is one line of the paper's Table 2, carried further: one run of N
// concurrent connections, each subscribed to one key, receiving pushes.
type Row struct {
	Conns       int               `json:"conns"`              // concurrent connections
	Pushes      int64             `json:"pushes"`             // pushes expected by all connections together
	Received    int64             `json:"received"`           // pushes received
	AvgMS       float64           `json:"avg_ms"`             // average response time: receive time minus send time
	P50MS       float64           `json:"p50_ms"`             //
	P99MS       float64           `json:"p99_ms"`             //
	MaxMS       float64           `json:"max_ms"`             //
	ErrorRate   float64           `json:"error_rate_pct"`     // errors per expected push, in percent
	Errors      map[string]uint64 `json:"errors"`             // by kind (ErrConnect ...)
	ConnectRate float64           `json:"connect_per_sec"`    // connections subscribed per second
	RSSPerConn  float64           `json:"rss_per_conn_bytes"` // servers' resident memory growth per connection
	FloorMS     float64           `json:"floor_ms,omitempty"` // a raw write(2) fan-out at the floor rate to all Conns; 0: not measured
	// FanoutRate is frames received per second of fan-out: Received over
	// the sum, across pushes, of each push's send to its last arrival. With
	// several independent servers pushing at once it is per server.
	FanoutRate float64 `json:"fanout_frames_per_sec"`
	Cluster    bool    `json:"cluster,omitempty"` // the servers were nodes of one cluster
	Servers    int     `json:"servers"`           // edgepush processes
	Procs      int     `json:"procs"`             // client processes
}

// Table is the result of `edgebench table`.
type Table struct {
	Machine string `json:"machine"` // e.g. "2 cores, 24 GiB, Linux 6.1"
	Command string `json:"command"` // the command line that produced it
	Rows    []Row  `json:"rows"`
}
