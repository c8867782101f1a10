package value_test

import (
	"fmt"

	"edgepush/hub"
	"edgepush/sources/value"
)

func ExampleEncode() {
	// The "value" field of a data-center reading.
	v, err := value.FromJSON([]byte(` 21.5 `))
	if err != nil {
		panic(err)
	}
	var buf []byte // reused from one value to the next
	for _, mode := range []value.Mode{value.Text, value.Binary} {
		var kind hub.Kind
		buf, kind, err = value.Encode(buf[:0], v, mode)
		if err != nil {
			panic(err)
		}
		// publisher.Publish(ctx, key, kind, buf)
		fmt.Printf("%v (binary push: %v): %q\n", mode, kind == hub.Binary, buf)
	}
	// Output:
	// text (binary push: false): "21.5"
	// binary (binary push: true): "\x03@5\x80\x00\x00\x00\x00\x00"
}

func ExampleParseBinary() {
	// The payload of a binary push, after the key, seq and ts.
	v, err := value.ParseBinary([]byte("\x02\x00\x00\x01\x8b\xcf\xe5\x68\x00"))
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Type(), v.Int())
	// Output: integer 1700000000000
}

func ExampleParseText() {
	// A text push's data cannot tell bytes from a string: the hint does.
	text, _ := value.AppendText(nil, value.FromBytes([]byte{1, 2, 3}))
	asString, _ := value.ParseText(text, value.TypeString)
	asBytes, _ := value.ParseText(text, value.TypeBytes)
	fmt.Println(string(text), asString, asBytes.Bytes())
	// Output: "AQID" string "AQID" [1 2 3]
}
