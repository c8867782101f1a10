package bench

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// sampleTable has a row without errors, one with errors the paper has a
// line for, and one far beyond the paper with a tiny error rate.
func sampleTable() Table {
	return Table{
		Machine: "2 cores, 24 GiB, Linux 6.1",
		Command: "edgebench table -conns 500,1500,200000",
		Rows: []Row{
			{
				Conns:       500,
				Pushes:      10000,
				Received:    10000,
				AvgMS:       1.234,
				P50MS:       1.1,
				P99MS:       4.56,
				MaxMS:       12.5,
				ConnectRate: 2500.4,
				RSSPerConn:  10240,
				FanoutRate:  250000.4,
				Servers:     1,
				Procs:       1,
			},
			{
				Conns:       1500,
				Pushes:      30000,
				Received:    29985,
				AvgMS:       2.5,
				P50MS:       2,
				P99MS:       9.75,
				MaxMS:       31.25,
				ErrorRate:   0.05,
				Errors:      map[string]uint64{ErrMissingSeq: 12, ErrConnect: 3, ErrClosed: 0},
				ConnectRate: 3000,
				RSSPerConn:  11264,
				Servers:     1,
				Procs:       2,
			},
			{
				Conns:       200000,
				Pushes:      4000000,
				Received:    4000000,
				AvgMS:       150.25,
				P50MS:       120,
				P99MS:       900.5,
				MaxMS:       1500,
				ErrorRate:   0.001,
				Errors:      map[string]uint64{ErrMissingSeq: 40},
				ConnectRate: 12345.6,
				RSSPerConn:  9000,
				FanoutRate:  1234567,
				Servers:     2,
				Procs:       2,
			},
		},
	}
}

func TestReportTextIsAligned(t *testing.T) {
	want := `machine: 2 cores, 24 GiB, Linux 6.1
command: edgebench table -conns 500,1500,200000

 conns  avg ms  p50 ms  p99 ms   max ms  errors %  connect/s  RSS/conn (KiB)  fan-out frames/s  servers  procs
   500    1.23    1.10    4.56    12.50      0.00       2500            10.0            250000        1      1
  1500    2.50    2.00    9.75    31.25      0.05       3000            11.0                 0        1      2
  errors: connect=3 missing_seq=12
200000  150.25  120.00  900.50  1500.00     <0.01      12346             8.8           1234567        2      2
  errors: missing_seq=40
`
	var b bytes.Buffer
	if err := WriteText(&b, sampleTable()); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestReportTextEmptyTable(t *testing.T) {
	want := `machine: m
command: c

conns  avg ms  p50 ms  p99 ms  max ms  errors %  connect/s  RSS/conn (KiB)  fan-out frames/s  servers  procs
`
	var b bytes.Buffer
	if err := WriteText(&b, Table{Machine: "m", Command: "c"}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestReportFormatPercent(t *testing.T) {
	cases := []struct {
		pct  float64
		want string
	}{
		{
			pct:  0,
			want: "0.00",
		},
		{
			pct:  0.001,
			want: "<0.01",
		},
		{
			pct:  0.005,
			want: "0.01",
		},
		{
			pct:  1.834,
			want: "1.83",
		},
		{
			pct:  100,
			want: "100.00",
		},
	}
	for _, tc := range cases {
		if got := formatPercent(tc.pct); got != tc.want {
			t.Errorf("formatPercent(%v) = %q, want %q", tc.pct, got, tc.want)
		}
	}
}

func TestReportCSV(t *testing.T) {
	want := `conns,pushes,received,avg_ms,p50_ms,p99_ms,max_ms,error_rate_pct,errors,connect_per_sec,rss_per_conn_bytes,servers,procs
500,10000,10000,1.234,1.1,4.56,12.5,0,,2500.4,10240,1,1
1500,30000,29985,2.5,2,9.75,31.25,0.05,connect=3;missing_seq=12,3000,11264,1,2
200000,4000000,4000000,150.25,120,900.5,1500,0.001,missing_seq=40,12345.6,9000,2,2
`
	var b bytes.Buffer
	if err := WriteCSV(&b, sampleTable()); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	records, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 1+len(sampleTable().Rows) {
		t.Errorf("%d records, want a header and one per row", len(records))
	}
}

func TestReportCSVQuotesFields(t *testing.T) {
	table := Table{Rows: []Row{{Conns: 1, Errors: map[string]uint64{"a,b": 1, `c"d`: 2}}}}
	var b bytes.Buffer
	if err := WriteCSV(&b, table); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := records[1][8], `a,b=1;c"d=2`; got != want {
		t.Errorf("errors field %q, want %q", got, want)
	}
}

func TestReportJSONRoundTrips(t *testing.T) {
	var b bytes.Buffer
	table := sampleTable()
	if err := WriteJSON(&b, table); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "{\n  \"machine\": \"2 cores, 24 GiB, Linux 6.1\",\n") {
		t.Errorf("not indented:\n%s", b.String())
	}
	var got Table
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, table) {
		t.Errorf("got %+v, want %+v", got, table)
	}
}

func TestReportPaperComparison(t *testing.T) {
	table := sampleTable()
	table.Rows = append(table.Rows, Row{Conns: 900, AvgMS: 3, P99MS: 7})
	want := `edgebench on 2 cores, 24 GiB, Linux 6.1 next to Table 2 of the paper (Cao et al., Node.js server).

| conns | paper avg ms | our avg ms | our p99 ms | paper errors % | our errors % |
|------:|-------------:|-----------:|-----------:|---------------:|-------------:|
| 500 | 1047 | 1.23 | 4.56 | 0 | 0.00 |
| 1500 | 3242 | 2.50 | 9.75 | 1.83 | 0.05 |
| 200000 | — | 150.25 | 900.50 | — | <0.01 |
| 900 | 2173 | 3.00 | 7.00 | 0.25 | 0.00 |
`
	var b bytes.Buffer
	if err := WritePaperComparison(&b, table); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestReportPaperTable2(t *testing.T) {
	cases := []struct {
		conns int
		ok    bool
		want  paperRow
	}{
		{
			conns: 500,
			ok:    true,
			want:  paperRow{Conns: 500, AvgMS: 1047, ErrorRate: 0},
		},
		{
			conns: 750,
			ok:    true,
			want:  paperRow{Conns: 750, AvgMS: 1852, ErrorRate: 0},
		},
		{
			conns: 900,
			ok:    true,
			want:  paperRow{Conns: 900, AvgMS: 2173, ErrorRate: 0.25},
		},
		{
			conns: 1200,
			ok:    true,
			want:  paperRow{Conns: 1200, AvgMS: 2763, ErrorRate: 0.41},
		},
		{
			conns: 1500,
			ok:    true,
			want:  paperRow{Conns: 1500, AvgMS: 3242, ErrorRate: 1.83},
		},
		{
			conns: 1000,
			ok:    false,
		},
	}
	for _, tc := range cases {
		got, ok := paperLine(tc.conns)
		if ok != tc.ok || got != tc.want {
			t.Errorf("paperLine(%d) = %+v, %v, want %+v, %v", tc.conns, got, ok, tc.want, tc.ok)
		}
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

var errWrite = errors.New("write failed")

func TestReportWriteErrors(t *testing.T) {
	cases := []struct {
		name  string
		write func(io.Writer, Table) error
	}{
		{
			name:  "text",
			write: WriteText,
		},
		{
			name:  "csv",
			write: WriteCSV,
		},
		{
			name:  "json",
			write: WriteJSON,
		},
		{
			name:  "paper",
			write: WritePaperComparison,
		},
	}
	for _, tc := range cases {
		if err := tc.write(failingWriter{}, sampleTable()); !errors.Is(err, errWrite) {
			t.Errorf("%s: error %v, want %v", tc.name, err, errWrite)
		}
	}
}
