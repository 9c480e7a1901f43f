package probing_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/rafthttp/rafthttp/probing"
)

func ExampleNewProber() {
	srv := httptest.NewServer(probing.NewHandler())
	defer srv.Close()

	p := probing.NewProber(nil)
	defer p.RemoveAll()
	if err := p.AddHTTP("peer-1", 4*time.Second, []string{srv.URL + "/raft/probing"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.AddHTTP("peer-1", time.Second, []string{srv.URL}))

	st, err := p.Status("peer-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("healthy before the first probe:", st.Health())

	if err := p.Remove("peer-1"); err != nil {
		fmt.Println(err)
		return
	}
	<-st.StopNotify() // already closed: Remove waits for the loop to exit
	fmt.Println("stopped")
	// Output:
	// probing: id exists
	// healthy before the first probe: false
	// stopped
}
