package frame

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// decode reads a whole unmasked server frame with gobwas's reader.
func decode(t *testing.T, b []byte) ws.Frame {
	t.Helper()
	f, err := ws.ReadFrame(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("frame %x does not parse: %v", b, err)
	}
	if f.Header.Masked || !f.Header.Fin || int64(len(f.Payload)) != f.Header.Length {
		t.Fatalf("bad header %+v for %x", f.Header, b)
	}
	return f
}

func TestTextPush(t *testing.T) {
	p := NewPool()
	cases := []struct {
		name string
		push Push
		want string
	}{
		{
			name: "plain",
			push: Push{App: "demo", ID: "001", Seq: 42, TS: 1700000000000, Data: []byte(`{"v":21.5}`)},
			want: `{"op":"data","app":"demo","id":"001","seq":42,"ts":1700000000000,"data":{"v":21.5}}`,
		},
		{
			name: "escaped key",
			push: Push{App: `a"b\c`, ID: "ü", Seq: 1, TS: -1, Data: []byte(`null`)},
			want: `{"op":"data","app":"a\"b\\c","id":"ü","seq":1,"ts":-1,"data":null}`,
		},
		{
			name: "16-bit length",
			push: Push{App: "a", ID: "b", Seq: 1, TS: 1, Data: []byte(`"` + strings.Repeat("x", 300) + `"`)},
			want: `{"op":"data","app":"a","id":"b","seq":1,"ts":1,"data":"` + strings.Repeat("x", 300) + `"}`,
		},
		{
			name: "64-bit length",
			push: Push{App: "a", ID: "b", Seq: 1, TS: 1, Data: []byte(`"` + strings.Repeat("y", 70000) + `"`)},
			want: `{"op":"data","app":"a","id":"b","seq":1,"ts":1,"data":"` + strings.Repeat("y", 70000) + `"}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := p.Text(tc.push)
			defer f.Release()
			got := decode(t, f.Bytes())
			if got.Header.OpCode != ws.OpText || string(got.Payload) != tc.want {
				t.Fatalf("got op %d %q, want text %q", got.Header.OpCode, got.Payload, tc.want)
			}
			if !json.Valid(got.Payload) {
				t.Fatal("payload is not JSON")
			}
			if f.Len() != len(f.Bytes()) {
				t.Fatalf("Len %d, bytes %d", f.Len(), len(f.Bytes()))
			}
		})
	}
}

func TestBinaryPush(t *testing.T) {
	p := NewPool()
	f := p.Binary(Push{App: "demo", ID: "001", Seq: 7, TS: 1700000000123, Data: []byte{0, 0xff}})
	defer f.Release()
	got := decode(t, f.Bytes())
	want := []byte{1, 4, 'd', 'e', 'm', 'o', 3, '0', '0', '1'}
	want = binary.BigEndian.AppendUint64(want, 7)
	want = binary.BigEndian.AppendUint64(want, 1700000000123)
	want = append(want, 0, 0xff)
	if got.Header.OpCode != ws.OpBinary || !bytes.Equal(got.Payload, want) {
		t.Fatalf("got op %d %x, want binary %x", got.Header.OpCode, got.Payload, want)
	}
}

func TestAppendJSONString(t *testing.T) {
	cases := []struct {
		in   string
		want string
	}{
		{in: "", want: `""`},
		{in: "plain", want: `"plain"`},
		{in: "q\"b\\", want: `"q\"b\\"`},
		{in: "\n\r\t\x01\x1f", want: `"\n\r\t\u0001\u001f"`},
		{in: "κόσμε", want: `"κόσμε"`},
		{in: "a\xffb", want: `"a\ufffdb"`},
	}
	for _, tc := range cases {
		got := string(AppendJSONString(nil, tc.in))
		if got != tc.want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("%s is not a JSON string: %v", got, err)
		}
	}
}

func TestReferenceCounting(t *testing.T) {
	p := NewPool()
	f := p.Message(ws.OpText, []byte("x"))
	f.Retain()
	f.Retain()
	f.Release()
	f.Release()
	if f.buf == nil {
		t.Fatal("buffer returned to the pool while a reference was held")
	}
	f.Release()
	if f.buf != nil {
		t.Fatal("buffer kept after the last release")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a release too many did not panic")
		}
	}()
	f.refs.Store(0)
	f.buf = nil
	f.Release()
}

func TestControls(t *testing.T) {
	p := NewPool()
	c := NewControls()
	for _, code := range []ws.StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 3000, 4999} {
		f := c.Close(p, code)
		got := decode(t, f.Bytes())
		if got.Header.OpCode != ws.OpClose || len(got.Payload) < 2 || ws.StatusCode(binary.BigEndian.Uint16(got.Payload)) != code {
			t.Fatalf("close %d = %x", code, f.Bytes())
		}
		f.Release()
	}
	c.Ping.Release() // static: no effect
	if got := decode(t, c.Ping.Bytes()); got.Header.OpCode != ws.OpPing || len(got.Payload) != 0 {
		t.Fatalf("ping = %x", c.Ping.Bytes())
	}
}
