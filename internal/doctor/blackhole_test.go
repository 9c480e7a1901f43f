package doctor

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// TestBlackholedPeer checks a port that accepts connections and never
// answers, over HTTP and over TLS: the doctor gives up after its timeout
// and calls the peer unresponsive.
func TestBlackholedPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	})
	defer func() {
		ln.Close()
		wg.Wait()
		for _, c := range held {
			c.Close()
		}
	}()
	for _, scheme := range []string{"http", "https"} {
		url := scheme + "://" + ln.Addr().String()
		start := time.Now()
		rep, err := Run(context.Background(), Config{Peers: []string{url}, Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if v := rep.Peers[0].Verdict; v.Code != CodeUnresponsive || rep.Status != StatusFail {
			t.Errorf("%s: verdict %+v", scheme, v)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: took %v with a 300ms timeout", scheme, d)
		}
	}
}
