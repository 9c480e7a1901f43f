package rafthttptest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rafthttp/rafthttp/rafthttptest"
)

// A Proxy puts the fault layer in front of a server a Cluster does not
// run, here a plain HTTP server that echoes request bodies; in a test it
// would be the peer URL given to another implementation's Transport.
func ExampleProxy() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	}))
	defer srv.Close()
	p, err := rafthttptest.NewProxy(srv.Listener.Addr().String())
	if err != nil {
		panic(err)
	}
	defer p.Close()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	post := func(body string) (string, error) {
		resp, err := client.Post("http://"+p.Addr()+"/", "text/plain", strings.NewReader(body))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}

	// The answer is held back for 200ms, then delivered whole.
	p.ToClient().Stall(200 * time.Millisecond)
	start := time.Now()
	echo, err := post("ping")
	fmt.Println(echo, err, time.Since(start) >= 200*time.Millisecond)

	// The next connection to carry a byte to the server is reset before
	// that byte gets through.
	cut := p.ToServer().CutAfter(0)
	_, err = post("ping")
	<-cut
	fmt.Println("cut request failed:", err != nil)

	// The cut was one-shot.
	echo, err = post("pong")
	fmt.Println(echo, err)
	// Output:
	// ping <nil> true
	// cut request failed: true
	// pong <nil>
}
