package rafthttp

// A stream is a long-lived GET: the receiver dials it and the sender
// writes frames into the response for as long as it lasts. stream_writer.go
// holds the sending side, stream_reader.go the receiving side, and
// http_stream.go the handler that hands responses to writers.

// streamType names one of the two long-lived stream encodings.
type streamType string

const (
	streamTypeMessage  streamType = "message"
	streamTypeMsgAppV2 streamType = "msgappv2"
)

// endpoint is the path segment that selects the stream type. The msgappv2
// stream is served under "msgapp", a historical name kept for compatibility.
func (t streamType) endpoint() string {
	if t == streamTypeMsgAppV2 {
		return RaftStreamPrefix + "/msgapp"
	}
	return RaftStreamPrefix + "/message"
}

// String is the label used in logs, as etcd words it.
func (t streamType) String() string {
	switch t {
	case streamTypeMessage:
		return "stream Message"
	case streamTypeMsgAppV2:
		return "stream MsgApp v2"
	}
	return "unknown stream"
}

// streamTypeFromDir maps the directory of a stream request path back to
// its type.
func streamTypeFromDir(dir string) (streamType, bool) {
	switch dir {
	case streamTypeMsgAppV2.endpoint():
		return streamTypeMsgAppV2, true
	case streamTypeMessage.endpoint():
		return streamTypeMessage, true
	}
	return "", false
}
