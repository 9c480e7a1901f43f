package rafthttp

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckPeerVersions(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		ls, lm, rs, rm, want string
	}{
		{"same", "3.4.23", "3.0.0", "3.4.23", "3.0.0", ""},
		{"patch and prerelease ignored", "3.5.0-alpha.0", "3.5.9", "3.5.1", "3.0", ""},
		{"remote server too old", "3.7.3", "3.5.0", "3.4.23", "3.0.0", "remote server 3.4 is older than the local minimum cluster version 3.5"},
		{"local server too old", "3.4.23", "3.0.0", "3.6.0", "3.5.0", "local server 3.4 is older than the remote minimum cluster version 3.5"},
		{"absent remote versions", "3.4.23", "3.0.0", "", "", "remote server 2.0 is older"},
		{"malformed", "3.4.23", "3.0.0", "three", "3.0.0", `malformed version "three"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPeerVersions(tc.ls, tc.lm, tc.rs, tc.rm)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if tc.name != "malformed" && !errors.Is(err, errIncompatibleVersion) {
				t.Fatalf("err = %v does not wrap errIncompatibleVersion", err)
			}
		})
	}
}
