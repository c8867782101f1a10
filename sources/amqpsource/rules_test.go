package amqpsource

import (
	"errors"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"edgepush/hub"
)

// ruleCase is one message and what the source makes of it.
type ruleCase struct {
	name            string
	noApp           bool   // the source has no default app (else "demo")
	defaultExchange bool   // sent to the default exchange, routing key the queue's name
	routingKey      string // through a topic exchange bound with "#"
	headers         amqp.Table
	contentType     string
	encoding        string
	body            string

	key  hub.Key // the push, unless err
	kind hub.Kind
	data string
	err  error // the rejection
}

var ruleCases = []ruleCase{
	// The key.
	{name: "headers", defaultExchange: true, headers: amqp.Table{"app": "plant", "id": "001"}, contentType: "application/json", body: `1`,
		key: hub.Key{App: "plant", ID: "001"}, kind: hub.Text, data: `1`},
	{name: "headers win over the routing key", routingKey: "other.key", headers: amqp.Table{"app": "plant", "id": "002"}, contentType: "application/json", body: `2`,
		key: hub.Key{App: "plant", ID: "002"}, kind: hub.Text, data: `2`},
	{name: "id header with the default app", defaultExchange: true, headers: amqp.Table{"id": "a.b.c"}, contentType: "application/json", body: `3`,
		key: hub.Key{App: "demo", ID: "a.b.c"}, kind: hub.Text, data: `3`},
	{name: "id header as bytes", defaultExchange: true, headers: amqp.Table{"app": "plant", "id": []byte("bytes")}, body: "x",
		key: hub.Key{App: "plant", ID: "bytes"}, kind: hub.Binary, data: "x"},
	{name: "id header without app nor default app", noApp: true, defaultExchange: true, headers: amqp.Table{"id": "001"}, body: "x", err: ErrNoKey},
	{name: "app header without id", routingKey: "demo.001", headers: amqp.Table{"app": "plant"}, body: "x", err: ErrBadKey},
	{name: "id header not a string", defaultExchange: true, headers: amqp.Table{"app": "plant", "id": int32(7)}, body: "x", err: ErrBadKey},
	{name: "empty id header", defaultExchange: true, headers: amqp.Table{"app": "plant", "id": ""}, body: "x", err: ErrBadKey},
	{name: "id header with a control character", defaultExchange: true, headers: amqp.Table{"app": "plant", "id": "a\nb"}, body: "x", err: ErrBadKey},
	{name: "id header too long", defaultExchange: true, headers: amqp.Table{"app": "plant", "id": strings.Repeat("x", 65)}, body: "x", err: ErrBadKey},
	{name: "id header of 64 bytes", defaultExchange: true, headers: amqp.Table{"app": "plant", "id": strings.Repeat("x", 64)}, body: "x",
		key: hub.Key{App: "plant", ID: strings.Repeat("x", 64)}, kind: hub.Binary, data: "x"},
	{name: "routing key", routingKey: "plant.001", body: "x", key: hub.Key{App: "plant", ID: "001"}, kind: hub.Binary, data: "x"},
	{name: "routing key with dots in the id", routingKey: "plant.line.3.temp", body: "x",
		key: hub.Key{App: "plant", ID: "line.3.temp"}, kind: hub.Binary, data: "x"},
	{name: "routing key with odd characters", routingKey: "plant.ü *#%", body: "x",
		key: hub.Key{App: "plant", ID: "ü *#%"}, kind: hub.Binary, data: "x"},
	{name: "routing key without a dot", routingKey: "001", body: "x", key: hub.Key{App: "demo", ID: "001"}, kind: hub.Binary, data: "x"},
	{name: "routing key without a dot nor default app", noApp: true, routingKey: "001", body: "x", err: ErrNoKey},
	{name: "routing key with an empty app", routingKey: ".001", body: "x", err: ErrBadKey},
	{name: "routing key with an empty id", routingKey: "plant.", body: "x", err: ErrBadKey},
	{name: "empty routing key", routingKey: "", body: "x", err: ErrNoKey},
	{name: "default exchange without headers", defaultExchange: true, body: "x", err: ErrNoKey},

	// The body.
	{name: "json", routingKey: "demo.j", contentType: "application/json", body: `{"t":21.5}`,
		key: hub.Key{App: "demo", ID: "j"}, kind: hub.Text, data: `{"t":21.5}`},
	{name: "json trimmed", routingKey: "demo.j", contentType: "application/json", body: " \t[1, 2]\r\n",
		key: hub.Key{App: "demo", ID: "j"}, kind: hub.Text, data: `[1, 2]`},
	{name: "json with charset", routingKey: "demo.j", contentType: "Application/JSON; charset=UTF-8", body: `"é"`,
		key: hub.Key{App: "demo", ID: "j"}, kind: hub.Text, data: `"é"`},
	{name: "json with another charset", routingKey: "demo.j", contentType: "application/json; charset=iso-8859-1", body: `1`, err: ErrContentType},
	{name: "invalid json", routingKey: "demo.j", contentType: "application/json", body: `{"t":`, err: ErrBadJSON},
	{name: "empty json", routingKey: "demo.j", contentType: "application/json", body: ``, err: ErrBadJSON},
	{name: "json of invalid utf-8", routingKey: "demo.j", contentType: "application/json", body: "\"\xff\"", err: ErrBadJSON},
	{name: "two json values", routingKey: "demo.j", contentType: "application/json", body: `1 2`, err: ErrBadJSON},
	{name: "text", routingKey: "demo.t", contentType: "text/plain", body: "say \"hi\"\\\n\x01ü",
		key: hub.Key{App: "demo", ID: "t"}, kind: hub.Text, data: `"say \"hi\"\\\n\u0001ü"`},
	{name: "text with charset", routingKey: "demo.t", contentType: "text/plain; charset=utf-8", body: "ok",
		key: hub.Key{App: "demo", ID: "t"}, kind: hub.Text, data: `"ok"`},
	{name: "empty text", routingKey: "demo.t", contentType: "text/plain", body: "",
		key: hub.Key{App: "demo", ID: "t"}, kind: hub.Text, data: `""`},
	{name: "text of invalid utf-8", routingKey: "demo.t", contentType: "text/plain", body: "a\xffb", err: ErrBadUTF8},
	{name: "text with another charset", routingKey: "demo.t", contentType: "text/plain; charset=latin1", body: "a", err: ErrContentType},
	{name: "octet-stream", routingKey: "demo.b", contentType: "application/octet-stream", body: "\x00\x01\xff",
		key: hub.Key{App: "demo", ID: "b"}, kind: hub.Binary, data: "\x00\x01\xff"},
	{name: "no content type", routingKey: "demo.b", body: "\xfe{",
		key: hub.Key{App: "demo", ID: "b"}, kind: hub.Binary, data: "\xfe{"},
	{name: "empty binary", routingKey: "demo.b", contentType: "application/octet-stream", body: "",
		key: hub.Key{App: "demo", ID: "b"}, kind: hub.Binary, data: ""},
	{name: "identity encoding", routingKey: "demo.b", encoding: "identity", body: "x",
		key: hub.Key{App: "demo", ID: "b"}, kind: hub.Binary, data: "x"},
	{name: "other content type", routingKey: "demo.b", contentType: "image/png", body: "x", err: ErrContentType},
	{name: "malformed content type", routingKey: "demo.b", contentType: "application/json; charset", body: "1", err: ErrContentType},
	{name: "gzip encoding", routingKey: "demo.b", contentType: "application/json", encoding: "gzip", body: "1", err: ErrContentType},
	{name: "largest body", routingKey: "demo.big", body: strings.Repeat("b", DefaultMaxBody),
		key: hub.Key{App: "demo", ID: "big"}, kind: hub.Binary, data: strings.Repeat("b", DefaultMaxBody)},
	{name: "body too large", routingKey: "demo.big", body: strings.Repeat("b", DefaultMaxBody+1), err: ErrTooLarge},
	{name: "too large before a bad key", routingKey: "", body: strings.Repeat("b", DefaultMaxBody+1), err: ErrTooLarge},
}

// TestDecode runs the rules on deliveries made up in memory.
func TestDecode(t *testing.T) {
	for _, c := range ruleCases {
		t.Run(c.name, func(t *testing.T) {
			d := amqp.Delivery{Exchange: "readings", RoutingKey: c.routingKey, Headers: c.headers,
				ContentType: c.contentType, ContentEncoding: c.encoding, Body: []byte(c.body)}
			if c.defaultExchange {
				d.Exchange, d.RoutingKey = "", "amqpsource.readings"
			}
			app := "demo"
			if c.noApp {
				app = ""
			}
			p, err := decode(&d, app, DefaultMaxBody)
			checkRule(t, c, p, err)
		})
	}
}

func checkRule(t *testing.T, c ruleCase, p push, err error) {
	t.Helper()
	if c.err != nil {
		if !errors.Is(err, c.err) {
			t.Fatalf("error %v, want %v", err, c.err)
		}
		return
	}
	if err != nil {
		t.Fatalf("rejected: %v", err)
	}
	if p.key != c.key || p.kind != c.kind || string(p.data) != c.data {
		t.Fatalf("push %v kind %d data %.80q, want %v kind %d data %.80q", p.key, p.kind, p.data, c.key, c.kind, c.data)
	}
	if p.kind == hub.Text {
		if err := hub.Validate(p.key, p.kind, p.data); err != nil {
			t.Fatalf("the pipeline would refuse the push: %v", err)
		}
	}
}

// TestRulesThroughTheBroker sends every case through RabbitMQ to a running
// source, one at a time, and checks what reached the publisher or how the
// message was rejected.
func TestRulesThroughTheBroker(t *testing.T) {
	ch := dial(t)
	withApp, noApp := queueName(t, ".app"), queueName(t, ".noapp")
	declare(t, ch, withApp, withApp+".x", nil)
	declare(t, ch, noApp, noApp+".x", nil)
	sources := map[bool]*running{
		false: start(t, Config{Queue: withApp, App: "demo"}, nil, true),
		true:  start(t, Config{Queue: noApp}, nil, true),
	}
	for _, c := range ruleCases {
		t.Run(c.name, func(t *testing.T) {
			src, queue := sources[c.noApp], withApp
			if c.noApp {
				queue = noApp
			}
			before, pushes := src.Stats(), len(src.pub.taken())
			exchange, rk := queue+".x", c.routingKey
			if c.defaultExchange {
				exchange, rk = "", queue
			}
			send(t, ch, exchange, rk, amqp.Publishing{Headers: c.headers, ContentType: c.contentType, ContentEncoding: c.encoding, Body: []byte(c.body)})
			waitUntil(t, "the message to be handled", func() bool {
				st := src.Stats()
				return st.Published+st.Rejected.Total() > before.Published+before.Rejected.Total()
			})
			after := src.Stats()
			if c.err != nil {
				r := reasonOf(c.err)
				if got := rejectedBy(after, r) - rejectedBy(before, r); got != 1 {
					t.Fatalf("rejected %+v, before %+v: want one more %s", after.Rejected, before.Rejected, reasons[r].name)
				}
				return
			}
			taken := src.pub.taken()
			if after.Published != before.Published+1 || len(taken) != pushes+1 {
				t.Fatalf("not published: stats %+v", after)
			}
			got := taken[len(taken)-1]
			checkRule(t, c, push{key: got.key, kind: got.kind, data: []byte(got.data)}, nil)
		})
	}
}

// rejectedBy is the count of rejections for r in st.
func rejectedBy(st Stats, r reason) uint64 {
	return []uint64{st.Rejected.NoKey, st.Rejected.BadKey, st.Rejected.ContentType, st.Rejected.JSON,
		st.Rejected.UTF8, st.Rejected.TooLarge, st.Rejected.Refused}[r]
}
