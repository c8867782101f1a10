package amqpsource

import (
	"errors"
	"fmt"
	"mime"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"edgepush/hub"
	"edgepush/sources"
)

// reason is why a message was rejected: an index into Source.rejected, in
// the order of the fields of Rejected.
type reason int

const (
	reasonNoKey reason = iota
	reasonBadKey
	reasonContentType
	reasonJSON
	reasonUTF8
	reasonTooLarge
	reasonRefused
	numReasons
)

// reasons pairs each reason with its error and its name in the logs.
var reasons = [numReasons]struct {
	err  error
	name string
}{
	{ErrNoKey, "no_key"},
	{ErrBadKey, "bad_key"},
	{ErrContentType, "content_type"},
	{ErrBadJSON, "bad_json"},
	{ErrBadUTF8, "bad_utf8"},
	{ErrTooLarge, "too_large"},
	{ErrRefused, "refused"},
}

// reasonOf is the reason err, from decode or a refused publish, wraps.
func reasonOf(err error) reason {
	for r := range numReasons {
		if errors.Is(err, reasons[r].err) {
			return r
		}
	}
	return reasonRefused
}

// push is what one message publishes.
type push struct {
	key  hub.Key
	kind hub.Kind
	data []byte
}

// decode reads a delivery into a push, or an error wrapping one of the
// rejection errors (ErrNoKey ... ErrTooLarge).
func decode(d *amqp.Delivery, app string, maxBody int) (push, error) {
	if len(d.Body) > maxBody {
		return push{}, fmt.Errorf("%w: %d bytes, over %d", ErrTooLarge, len(d.Body), maxBody)
	}
	k, err := messageKey(d, app)
	if err != nil {
		return push{}, err
	}
	kind, data, err := body(d.ContentType, d.ContentEncoding, d.Body)
	if err != nil {
		return push{}, err
	}
	return push{key: k, kind: kind, data: data}, nil
}

// messageKey is the key a delivery names: by its headers, else by its
// routing key (see the package doc).
func messageKey(d *amqp.Delivery, defaultApp string) (hub.Key, error) {
	id, hasID, err := header(d.Headers, "id")
	if err != nil {
		return hub.Key{}, err
	}
	app, hasApp, err := header(d.Headers, "app")
	if err != nil {
		return hub.Key{}, err
	}
	var k hub.Key
	switch {
	case hasID && !hasApp && defaultApp == "":
		return hub.Key{}, fmt.Errorf("%w: header id without header app, and no default app", ErrNoKey)
	case hasID && !hasApp:
		k = hub.Key{App: defaultApp, ID: id}
	case hasID:
		k = hub.Key{App: app, ID: id}
	case hasApp:
		return hub.Key{}, fmt.Errorf("%w: header app without header id", ErrBadKey)
	case d.Exchange == "":
		return hub.Key{}, fmt.Errorf("%w: no id header, and the default exchange's routing key is the queue's name", ErrNoKey)
	default:
		if k, err = routingKey(d.RoutingKey, defaultApp); err != nil {
			return hub.Key{}, err
		}
	}
	if err := k.Validate(); err != nil {
		return hub.Key{}, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	return k, nil
}

// header returns the string header name, and whether it is there.
func header(h amqp.Table, name string) (string, bool, error) {
	v, ok := h[name]
	if !ok {
		return "", false, nil
	}
	switch v := v.(type) {
	case string:
		return v, true, nil
	case []byte:
		return string(v), true, nil
	}
	return "", true, fmt.Errorf("%w: header %s is a %T, not a string", ErrBadKey, name, v)
}

// routingKey splits "APP.ID" at the first dot; a key without a dot is an
// id of defaultApp.
func routingKey(rk, defaultApp string) (hub.Key, error) {
	if app, id, ok := strings.Cut(rk, "."); ok {
		return hub.Key{App: app, ID: id}, nil
	}
	if rk == "" || defaultApp == "" {
		return hub.Key{}, fmt.Errorf("%w: routing key %q is not APP.ID, and no default app", ErrNoKey, rk)
	}
	return hub.Key{App: defaultApp, ID: rk}, nil
}

// body turns a message's body into a push's kind and data by its content
// type (see the package doc).
func body(contentType, encoding string, b []byte) (hub.Kind, []byte, error) {
	if encoding != "" && !strings.EqualFold(encoding, "identity") {
		return 0, nil, fmt.Errorf("%w: content encoding %q", ErrContentType, encoding)
	}
	if contentType == "" {
		return hub.Binary, b, nil
	}
	media, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %q: %v", ErrContentType, contentType, err)
	}
	if media == "application/octet-stream" {
		return hub.Binary, b, nil
	}
	if media != "application/json" && media != "text/plain" {
		return 0, nil, fmt.Errorf("%w: %q", ErrContentType, media)
	}
	if cs, ok := params["charset"]; ok && !sources.UTF8Charset(cs) {
		return 0, nil, fmt.Errorf("%w: charset %q", ErrContentType, cs)
	}
	if media == "text/plain" {
		data, err := sources.TextBody(b)
		if err != nil {
			return 0, nil, ErrBadUTF8
		}
		return hub.Text, data, nil
	}
	data, err := sources.JSONBody(b)
	if err != nil {
		return 0, nil, ErrBadJSON
	}
	return hub.Text, data, nil
}
