package types

import (
	"math"
	"sort"
	"testing"
)

func TestIDString(t *testing.T) {
	tests := []struct {
		name string
		id   ID
		want string
	}{
		{name: "zero", id: 0, want: "0"},
		{name: "small", id: 10, want: "a"},
		{name: "no leading zeros", id: 0x00ff, want: "ff"},
		{name: "max", id: math.MaxUint64, want: "ffffffffffffffff"},
		{name: "typical member", id: 0x8e9e05c52164694d, want: "8e9e05c52164694d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.id.String(); got != tt.want {
				t.Errorf("ID(%d).String() = %q, want %q", uint64(tt.id), got, tt.want)
			}
		})
	}
}

func TestIDFromString(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ID
		wantErr bool
	}{
		{name: "lower case", in: "8e9e05c52164694d", want: 0x8e9e05c52164694d},
		{name: "upper case", in: "ABCDEF", want: 0xabcdef},
		{name: "leading zeros", in: "000000000000000a", want: 10},
		{name: "zero", in: "0", want: 0},
		{name: "max", in: "ffffffffffffffff", want: math.MaxUint64},
		{name: "0x prefix rejected", in: "0x10", wantErr: true},
		{name: "empty rejected", in: "", wantErr: true},
		{name: "non hex rejected", in: "xyz", wantErr: true},
		{name: "negative rejected", in: "-1", wantErr: true},
		{name: "overflow rejected", in: "10000000000000000", wantErr: true},
		{name: "underscore rejected", in: "1_0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := IDFromString(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("IDFromString(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("IDFromString(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestIDRoundTrip(t *testing.T) {
	for _, id := range []ID{0, 1, 0xdeadbeef, math.MaxUint64} {
		t.Run(id.String(), func(t *testing.T) {
			back, err := IDFromString(id.String())
			if err != nil || back != id {
				t.Fatalf("round trip of %v gave %v, %v", id, back, err)
			}
		})
	}
}

func TestIDSlice(t *testing.T) {
	tests := []struct {
		name       string
		in         IDSlice
		wantSorted string
	}{
		{name: "nil", in: nil, wantSorted: ""},
		{name: "single", in: IDSlice{0x2a}, wantSorted: "2a"},
		{name: "numeric not lexical", in: IDSlice{0x10, 0x2, 0xff, 0x1}, wantSorted: "1,2,10,ff"},
		{name: "duplicates", in: IDSlice{3, 1, 3}, wantSorted: "1,3,3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := append(IDSlice(nil), tt.in...)
			sort.Sort(s)
			if got := s.String(); got != tt.wantSorted {
				t.Errorf("sorted String() = %q, want %q", got, tt.wantSorted)
			}
		})
	}
}
