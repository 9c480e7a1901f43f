package kv

import (
	"bytes"
	"errors"
	"testing"
)

func sampleState() *stateMachine {
	s := newStateMachine()
	s.put("a", []byte("1"))
	s.put("b/c", []byte{0, 0xff, 0xfe}) // values are bytes, not text
	s.put("\xff", nil)
	s.addMember(1, "http://127.0.0.1:1")
	s.addMember(2, "http://127.0.0.1:2")
	s.addMember(4, "http://127.0.0.1:4")
	s.removeMember(4)
	return s
}

func TestStateRoundTrip(t *testing.T) {
	data := sampleState().encodedState()
	got, err := decodeState(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decodeState: %v", err)
	}
	again := got.encodedState()
	if !bytes.Equal(data, again) {
		t.Errorf("re-encoding differs: the encoding must be deterministic")
	}
	if v, ok := got.get("b/c"); !ok || !bytes.Equal(v, []byte{0, 0xff, 0xfe}) {
		t.Errorf("b/c = %q, %v", v, ok)
	}
	if !got.isRemoved(4) || len(got.memberIDs()) != 2 {
		t.Errorf("members %v, removed 4 = %v; want [1 2], true", got.memberIDs(), got.isRemoved(4))
	}
}

func TestStateDecodeDamaged(t *testing.T) {
	data := sampleState().encodedState()
	tests := []struct {
		name string
		b    []byte
	}{
		{name: "empty", b: nil},
		{name: "bad magic", b: append([]byte("XXXXX\n"), data[6:]...)},
		{name: "truncated", b: data[:len(data)-10]},
		{name: "no checksum", b: data[:len(data)-4]},
		{name: "flipped byte", b: flip(data, len(data)/2)},
		{name: "trailing bytes", b: append(bytes.Clone(data), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeState(bytes.NewReader(tt.b)); !errors.Is(err, errBadSnapshot) {
				t.Errorf("decodeState error = %v, want errBadSnapshot", err)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x40
	return b
}

func TestPutRequestRoundTrip(t *testing.T) {
	in := putRequest{id: 1<<63 + 5, key: "k/ey", value: []byte("v\x00")}
	out, err := unmarshalPut(in.marshal())
	if err != nil || out.id != in.id || out.key != in.key || !bytes.Equal(out.value, in.value) {
		t.Fatalf("round trip = %+v, %v; want %+v", out, err, in)
	}
	for _, bad := range [][]byte{nil, {2}, {opPut}, {opPut, 1, 9, 'a'}} {
		if _, err := unmarshalPut(bad); !errors.Is(err, errBadEntry) {
			t.Errorf("unmarshalPut(%q) error = %v, want errBadEntry", bad, err)
		}
	}
}
