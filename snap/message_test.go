package snap

import (
	"errors"
	"io"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// bodyCloser is a string body whose Close returns a fixed error and counts
// calls.
type bodyCloser struct {
	*strings.Reader
	closeErr error
	closed   int
}

func (b *bodyCloser) Close() error {
	b.closed++
	return b.closeErr
}

func newBody(s string, closeErr error) *bodyCloser {
	return &bodyCloser{Reader: strings.NewReader(s), closeErr: closeErr}
}

func snapMsg() *raftpb.Message {
	return &raftpb.Message{
		Type: raftpb.MessageType_MsgSnap.Enum(),
		To:   proto.Uint64(2),
		From: proto.Uint64(1),
		Term: proto.Uint64(3),
	}
}

func TestMessageExactSize(t *testing.T) {
	tests := []struct {
		name    string
		body    io.ReadCloser
		size    int64
		want    string
		wantErr error
	}{
		{name: "exact", body: newBody("hello", nil), size: 5, want: "hello"},
		{name: "empty exact", body: newBody("", nil), size: 0, want: ""},
		{name: "nil body empty", body: nil, size: 0, want: ""},
		{name: "too long", body: newBody("hello!", nil), size: 5, wantErr: ErrExpectEOF},
		{name: "too short", body: newBody("hell", nil), size: 5, wantErr: ErrShortRead},
		{name: "nil body short", body: nil, size: 3, wantErr: ErrShortRead},
		{name: "read error passes through", body: io.NopCloser(&failingReader{after: 2}), size: 10, wantErr: errRead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMessage(snapMsg(), tt.body, tt.size)
			got, err := io.ReadAll(m.ReadCloser)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadAll error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && string(got) != tt.want {
				t.Errorf("ReadAll = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMessageTotalSize(t *testing.T) {
	tests := []struct {
		name string
		msg  *raftpb.Message
		size int64
	}{
		{name: "snapshot message", msg: snapMsg(), size: 100},
		{name: "nil raft message", msg: nil, size: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMessage(tt.msg, nil, tt.size)
			want := int64(proto.Size(tt.msg)) + tt.size
			if m.TotalSize != want {
				t.Errorf("TotalSize = %d, want %d", m.TotalSize, want)
			}
			if tt.msg != nil && proto.Size(tt.msg) == 0 {
				t.Errorf("test message encodes to zero bytes")
			}
			if cap(m.closeC) != 1 {
				t.Errorf("cap(closeC) = %d, want 1", cap(m.closeC))
			}
		})
	}
}

func TestMessageCloseWithError(t *testing.T) {
	errSend := errors.New("send failed")
	errClose := errors.New("close failed")
	tests := []struct {
		name     string
		closeErr error
		err      error
		want     bool
	}{
		{name: "success", err: nil, want: true},
		{name: "failure", err: errSend, want: false},
		{name: "close error overrides success", closeErr: errClose, err: nil, want: false},
		{name: "close error with failure", closeErr: errClose, err: errSend, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := newBody("x", tt.closeErr)
			m := NewMessage(snapMsg(), body, 1)
			m.CloseWithError(tt.err)
			if got := <-m.CloseNotify(); got != tt.want {
				t.Errorf("CloseNotify delivered %v, want %v", got, tt.want)
			}
			if body.closed != 1 {
				t.Errorf("body closed %d times, want 1", body.closed)
			}
		})
	}
}

func TestMessageCloseWithErrorTwice(t *testing.T) {
	body := newBody("x", nil)
	m := NewMessage(snapMsg(), body, 1)
	m.CloseWithError(nil)
	m.CloseWithError(errors.New("late failure")) // must neither block nor deliver
	if got := <-m.CloseNotify(); !got {
		t.Errorf("first delivery = false, want true")
	}
	select {
	case v := <-m.CloseNotify():
		t.Errorf("second delivery %v, want none", v)
	default:
	}
	if body.closed != 1 {
		t.Errorf("body closed %d times, want 1", body.closed)
	}
}

func TestMessageZeroValue(t *testing.T) {
	var m Message
	m.CloseWithError(nil) // no ReadCloser, no channel: must not panic or block
	if m.CloseNotify() != nil {
		t.Errorf("zero Message CloseNotify is not nil")
	}
}
