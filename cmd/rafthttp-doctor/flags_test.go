package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{nil, exitUsage, "no peer URLs given"},
		{[]string{"-o", "yaml", "http://a:2380"}, exitUsage, `-o "yaml"`},
		{[]string{"--from-id", "zz", "http://a:2380"}, exitUsage, "--from-id"},
		{[]string{"--cert", "c.pem", "http://a:2380"}, exitUsage, "--cert and --key go together"},
		{[]string{"not a url"}, exitUsage, "is not a peer URL"},
		{[]string{"-h"}, 0, "usage: rafthttp-doctor"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(errOut.String(), tc.err) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut.String(), tc.code, tc.err)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--probes", "3", "--from-id", "abc", "-o", "json", "--watch", "http://a:2380,http://b:2380", "https://c:2380"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.cfg.Peers) != 3 || o.cfg.Probes != 3 || o.cfg.FromID != 0xabc || !o.watch || !o.wopts.JSON {
		t.Fatalf("options %+v", o)
	}
}
