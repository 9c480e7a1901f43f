package doctor

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

func TestConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conn, res := connect(context.Background(), addr, time.Second)
	if conn != nil || res.Failure != "refused" || res.Address != addr {
		t.Fatalf("connect to a closed port: %+v", res)
	}
}

func TestClassifyDial(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}}, "dns"},
		{&net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, "timeout"},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), "timeout"},
		{fmt.Errorf("something else"), "error"},
	} {
		if got := classifyDial(tc.err); got != tc.want {
			t.Errorf("classifyDial(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestHostPort(t *testing.T) {
	for raw, want := range map[string]string{
		"http://10.0.0.1:2380": "10.0.0.1:2380",
		"https://etcd-0":       "etcd-0:443",
		"http://[::1]":         "[::1]:80",
	} {
		u, _ := url.Parse(raw)
		if got := hostPort(u); got != want {
			t.Errorf("hostPort(%s) = %s, want %s", raw, got, want)
		}
	}
}
