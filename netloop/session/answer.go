package session

import (
	"strconv"

	"edgepush/frame"
	"edgepush/hub"
)

func appendAck(dst []byte, ref string) []byte {
	dst = append(dst, `{"op":"ack"`...)
	dst = appendRef(dst, ref)
	return append(dst, '}')
}

// appendSubAck appends the ack of a sub: the position of every id.
func appendSubAck(dst []byte, ref string, ids []string, streams []hub.Stream) []byte {
	dst = append(dst, `{"op":"ack"`...)
	dst = appendRef(dst, ref)
	dst = append(dst, `,"keys":{`...)
	for i, id := range ids {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = frame.AppendJSONString(dst, id)
		dst = append(dst, ':')
		dst = appendPosition(dst, streams[i].Position)
	}
	return append(dst, "}}"...)
}

func appendPosition(dst []byte, p hub.Position) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, p.Seq, 10)
	dst = append(dst, `,"epoch":`...)
	dst = frame.AppendJSONString(dst, p.Epoch)
	return append(dst, '}')
}

// appendGap appends {"op":"gap",...}: the client's since could not be
// replayed.
func appendGap(dst []byte, k hub.Key, reason string, from uint64, p hub.Position) []byte {
	dst = append(dst, `{"op":"gap","app":`...)
	dst = frame.AppendJSONString(dst, k.App)
	dst = append(dst, `,"id":`...)
	dst = frame.AppendJSONString(dst, k.ID)
	dst = append(dst, `,"reason":`...)
	dst = frame.AppendJSONString(dst, reason)
	dst = append(dst, `,"since":`...)
	dst = strconv.AppendUint(dst, from, 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, p.Seq, 10)
	dst = append(dst, `,"epoch":`...)
	dst = frame.AppendJSONString(dst, p.Epoch)
	return append(dst, '}')
}

func appendError(dst []byte, ref string, e *protocolError) []byte {
	dst = append(dst, `{"op":"error"`...)
	dst = appendRef(dst, ref)
	dst = append(dst, `,"code":`...)
	dst = frame.AppendJSONString(dst, e.code)
	dst = append(dst, `,"msg":`...)
	dst = frame.AppendJSONString(dst, e.msg)
	return append(dst, '}')
}

func appendRef(dst []byte, ref string) []byte {
	if ref == "" {
		return dst
	}
	dst = append(dst, `,"ref":`...)
	return frame.AppendJSONString(dst, ref)
}
