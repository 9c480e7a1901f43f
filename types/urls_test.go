package types

import (
	"errors"
	"reflect"
	"testing"
)

func TestNewURLs(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr error
	}{
		{name: "single http", in: []string{"http://10.0.0.1:2380"}, want: []string{"http://10.0.0.1:2380"}},
		{name: "https with name", in: []string{"https://node1.example:2380"}, want: []string{"https://node1.example:2380"}},
		{name: "ipv6", in: []string{"http://[::1]:2380"}, want: []string{"http://[::1]:2380"}},
		{name: "spaces trimmed", in: []string{"  http://a:1 \t"}, want: []string{"http://a:1"}},
		{
			name: "sorted by string",
			in:   []string{"http://c:1", "https://a:1", "http://a:2", "http://a:10"},
			want: []string{"http://a:10", "http://a:2", "http://c:1", "https://a:1"},
		},
		{name: "unix", in: []string{"unix://localhost:1"}, want: []string{"unix://localhost:1"}},
		{name: "unix path allowed", in: []string{"unix:///tmp/peer.sock"}, want: []string{"unix:///tmp/peer.sock"}},
		{name: "unixs without port", in: []string{"unixs://peer"}, want: []string{"unixs://peer"}},
		{name: "nil list", in: nil, wantErr: ErrNoURLs},
		{name: "empty list", in: []string{}, wantErr: ErrNoURLs},
		{name: "empty string", in: []string{""}, wantErr: ErrInvalidURL},
		{name: "unparsable", in: []string{"http://a:1/%zz"}, wantErr: ErrInvalidURL},
		{name: "bad scheme", in: []string{"ftp://a:1"}, wantErr: ErrInvalidURL},
		{name: "no scheme", in: []string{"a:1"}, wantErr: ErrInvalidURL},
		{name: "missing port", in: []string{"http://a"}, wantErr: ErrInvalidURL},
		{name: "path rejected", in: []string{"http://a:1/raft"}, wantErr: ErrInvalidURL},
		{name: "trailing slash rejected", in: []string{"http://a:1/"}, wantErr: ErrInvalidURL},
		{name: "one bad among good", in: []string{"http://a:1", "http://b"}, wantErr: ErrInvalidURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewURLs(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NewURLs(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("NewURLs(%q) = %v on error, want nil", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewURLs(%q) unexpected error: %v", tt.in, err)
			}
			if !reflect.DeepEqual(got.StringSlice(), tt.want) {
				t.Errorf("NewURLs(%q) = %q, want %q", tt.in, got.StringSlice(), tt.want)
			}
		})
	}
}

func TestURLsString(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want string
	}{
		{name: "one", in: []string{"http://a:1"}, want: "http://a:1"},
		{name: "two comma joined", in: []string{"http://b:1", "http://a:1"}, want: "http://a:1,http://b:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			us, err := NewURLs(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := us.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("nil", func(t *testing.T) {
		var us URLs
		if us.String() != "" || len(us.StringSlice()) != 0 || us.StringSlice() == nil {
			t.Errorf("nil URLs: String %q StringSlice %#v", us.String(), us.StringSlice())
		}
	})
}

func TestURLsSort(t *testing.T) {
	a, err := NewURLs([]string{"http://a:1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewURLs([]string{"http://b:1"})
	if err != nil {
		t.Fatal(err)
	}
	us := URLs{b[0], a[0]}
	us.Sort()
	if got := us.String(); got != "http://a:1,http://b:1" {
		t.Errorf("after Sort: %q", got)
	}
}
