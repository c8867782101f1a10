package datacenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"edgepush/hub"
)

// Response is the body of a 200 answer to GET /realtime: the values of the
// asked ids the data center holds, in the order they were first asked.
// Items is never null; an id the data center does not hold is absent.
type Response struct {
	App   string `json:"app"`
	Items []Item `json:"items"`
}

// Item is one id's current value and the time it took that value.
type Item struct {
	ID string `json:"id"`
	// TS is when the value last changed, in Unix milliseconds; it never
	// goes down for one id.
	TS int64 `json:"ts"`
	// Value is any JSON value: a number, string, bool, object, array or
	// null.
	Value json.RawMessage `json:"value"`
}

// DefaultMaxIDs is the most ids one GET /realtime may ask for when
// SimConfig.MaxIDs is zero.
const DefaultMaxIDs = 1000

// Errors of ParseQuery and ParseIDs; the returned error wraps one of them.
var (
	ErrBadQuery   = errors.New("bad query")
	ErrTooManyIDs = errors.New("too many ids")
)

// EncodeIDs is the value of the ids query parameter for ids, as a client
// sends it: each id escaped with url.QueryEscape (so a comma inside an id
// becomes %2C and a space +), joined with literal commas.
func EncodeIDs(ids []string) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(url.QueryEscape(id))
	}
	return b.String()
}

// Query is the raw query of GET /realtime for app and ids:
// "app=" + url.QueryEscape(app) + "&ids=" + EncodeIDs(ids).
func Query(app string, ids []string) string {
	return "app=" + url.QueryEscape(app) + "&ids=" + EncodeIDs(ids)
}

// ParseIDs reads the raw (still escaped) value of the ids query parameter:
// it splits raw on literal commas first and then unescapes each part with
// url.QueryUnescape, so "a%2Cb,c" is the two ids "a,b" and "c". Every id
// must be a valid edgepush key part (hub.ValidatePart: 1 to 64 bytes of
// UTF-8, no control characters); an empty part ("a,,b", a trailing comma)
// is an error. With max > 0, more than max parts is ErrTooManyIDs, found
// before anything is unescaped. Duplicates are kept, in order.
func ParseIDs(raw string, max int) ([]string, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: query parameter ids is missing or empty", ErrBadQuery)
	}
	n := strings.Count(raw, ",") + 1
	if max > 0 && n > max {
		return nil, fmt.Errorf("%w: %d ids, at most %d in one request", ErrTooManyIDs, n, max)
	}
	ids := make([]string, 0, n)
	for i, part := range strings.Split(raw, ",") {
		id, err := url.QueryUnescape(part)
		if err != nil {
			return nil, fmt.Errorf("%w: id %d of ids: bad escape", ErrBadQuery, i+1)
		}
		if err := hub.ValidatePart(id); err != nil {
			return nil, fmt.Errorf("%w: id %d of ids: %v", ErrBadQuery, i+1, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// ParseQuery reads the raw query of GET /realtime (r.URL.RawQuery): the app
// parameter, unescaped with url.QueryUnescape, and the ids parameter, read
// by ParseIDs. The query is split on '&' and each pair on its first '=';
// other parameters are ignored, but app or ids given twice, a bad escape in
// a parameter's name or in app, and an app that is not a valid key part
// are errors wrapping ErrBadQuery.
func ParseQuery(rawQuery string, max int) (app string, ids []string, err error) {
	var rawIDs string
	var haveApp, haveIDs bool
	for pair := range strings.SplitSeq(rawQuery, "&") {
		if pair == "" {
			continue
		}
		rawKey, value, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return "", nil, fmt.Errorf("%w: bad escape in a parameter name", ErrBadQuery)
		}
		switch key {
		case "app":
			if haveApp {
				return "", nil, fmt.Errorf("%w: query parameter app is given twice", ErrBadQuery)
			}
			haveApp = true
			if app, err = url.QueryUnescape(value); err != nil {
				return "", nil, fmt.Errorf("%w: bad escape in app", ErrBadQuery)
			}
		case "ids":
			if haveIDs {
				return "", nil, fmt.Errorf("%w: query parameter ids is given twice", ErrBadQuery)
			}
			haveIDs, rawIDs = true, value
		}
	}
	if app == "" {
		return "", nil, fmt.Errorf("%w: query parameter app is missing or empty", ErrBadQuery)
	}
	if err := hub.ValidatePart(app); err != nil {
		return "", nil, fmt.Errorf("%w: app: %v", ErrBadQuery, err)
	}
	if ids, err = ParseIDs(rawIDs, max); err != nil {
		return "", nil, err
	}
	return app, ids, nil
}
