package rafthttp

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/types"
)

// Fuzz targets for the parsers that see peer bytes beyond the stream
// codecs (fuzz_test.go): the pipeline body, the version and cluster-ID
// headers, the X-PeerURLs list, stream request paths and headers, and the
// member URI in a peer certificate. Seed corpora are under
// testdata/fuzz/<target>/; `make fuzz` runs every target.

// FuzzPipelineBody POSTs arbitrary bodies to a running Transport's
// pipeline endpoint: 413 over the limit, 400 unless the body is a raft
// message, else 204 with exactly that message handed to raft.
func FuzzPipelineBody(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x08, 0xff})
	f.Add(make([]byte, fuzzLimit+1))
	tm := goldenStartTransport(f, fuzzLimit)
	f.Fuzz(func(t *testing.T, data []byte) {
		rec := tm.post(t, RaftPrefix, data)
		want := &raftpb.Message{}
		err := proto.Unmarshal(data, want)
		switch {
		case len(data) > fuzzLimit:
			fuzzExpect(t, rec, http.StatusRequestEntityTooLarge, ErrExceedSizeLimit.Error()+"\n")
		case err != nil:
			fuzzExpect(t, rec, http.StatusBadRequest, "error unmarshalling raft message\n")
		default:
			fuzzExpect(t, rec, http.StatusNoContent, "")
			if got := tm.raft.take(t); !proto.Equal(got, want) {
				t.Fatalf("raft got %v, want %v", got, want)
			}
		}
	})
}

// fuzzExpect fails unless rec has code and body.
func fuzzExpect(t *testing.T, rec *httptest.ResponseRecorder, code int, body string) {
	t.Helper()
	if rec.Code != code || rec.Body.String() != body {
		t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Body.String(), code, body)
	}
}

// FuzzCompatibilityHeaders sends an empty pipeline POST with arbitrary
// X-Server-Version, X-Min-Cluster-Version and X-Etcd-Cluster-ID: the reply
// must follow the documented rules exactly and nothing may panic.
func FuzzCompatibilityHeaders(f *testing.F) {
	f.Add("3.7.3", "3.0.0", "c1")
	f.Add("garbage", "3.0.0", "c1")
	f.Add("3.5.0", "3.8.0", "c1")
	f.Add("", "", "C1")
	tm := goldenStartTransport(f)
	f.Fuzz(func(t *testing.T, server, minCluster, cluster string) {
		req := httptest.NewRequest(http.MethodPost, RaftPrefix, http.NoBody)
		req.Header = http.Header{}
		for k, v := range map[string]string{hdrServerVersion: server, hdrMinClusterVersion: minCluster, hdrClusterID: cluster} {
			if v != "" {
				req.Header[http.CanonicalHeaderKey(k)] = []string{v}
			}
		}
		rec := httptest.NewRecorder()
		tm.handler.ServeHTTP(rec, req)
		switch {
		case !fuzzVersionsCompatible(server, minCluster):
			fuzzExpect(t, rec, http.StatusPreconditionFailed, errIncompatibleVersion.Error()+"\n")
		case cluster != "c1":
			fuzzExpect(t, rec, http.StatusPreconditionFailed, ErrClusterIDMismatch.Error()+"\n")
		default:
			fuzzExpect(t, rec, http.StatusNoContent, "")
			tm.raft.take(t)
		}
	})
}

// fuzzVersionsCompatible is the rule of wire-protocol §2.3 for a local
// member at 3.7.3 with minimum cluster version 3.0.0; absent headers mean
// 2.0.0.
func fuzzVersionsCompatible(server, minCluster string) bool {
	if server == "" {
		server = absentVersion
	}
	if minCluster == "" {
		minCluster = absentVersion
	}
	s, ok1 := fuzzParseVersionOracle(server)
	m, ok2 := fuzzParseVersionOracle(minCluster)
	return ok1 && ok2 && !s.less(majorMinor{major: 3}) && !(majorMinor{major: 3, minor: 7}).less(m)
}

// FuzzPeerURLs parses arbitrary X-PeerURLs values as the handlers do. A
// list that parses has one URL per comma-separated part, each with an
// allowed scheme, and its String form parses to the same list unless a
// URL itself contains a comma (which the header cannot carry).
func FuzzPeerURLs(f *testing.F) {
	f.Add("http://10.0.0.1:2380,http://10.0.0.2:2380")
	f.Add("https://[::1]:2380")
	f.Add("unix://x,http://a")
	f.Fuzz(func(t *testing.T, header string) {
		parts := splitPeerURLs(header)
		urls, err := types.NewURLs(parts)
		if err != nil {
			return
		}
		if len(urls) != len(parts) {
			t.Fatalf("%d URLs from %d parts", len(urls), len(parts))
		}
		for _, u := range urls {
			switch u.Scheme {
			case "http", "https", "unix", "unixs":
			default:
				t.Fatalf("scheme %q accepted", u.Scheme)
			}
		}
		joined := urls.String()
		if strings.Count(joined, ",") != len(urls)-1 {
			return
		}
		again, err := types.NewURLs(splitPeerURLs(joined))
		if err != nil || again.String() != joined {
			t.Fatalf("%q re-parsed as %q, %v", joined, again.String(), err)
		}
	})
}

// FuzzStreamRequest sends stream GETs with an arbitrary path, X-Raft-To
// and X-Server-From to a Transport without peers: each must be refused
// with one of the documented codes (or a mux redirect) and none may
// block, panic or add a remote.
func FuzzStreamRequest(f *testing.F) {
	f.Add("/raft/stream/message/a", "b", "a")
	f.Add("/raft/stream/msgapp/1ffffffffffffffff", "b", "")
	f.Add("/raft/stream/strange/../message/a", "", "zz")
	tm := goldenStartTransport(f)
	f.Fuzz(func(t *testing.T, path, to, from string) {
		req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}, Header: http.Header{},
			RemoteAddr: "192.0.2.1:1234", Host: "x"}
		req.Header.Set(hdrServerVersion, defaultServerVersion)
		req.Header.Set(hdrMinClusterVersion, defaultMinClusterVersion)
		req.Header.Set(hdrClusterID, "c1")
		req.Header[hdrRaftTo] = []string{to}
		req.Header[hdrServerFrom] = []string{from}
		rec := httptest.NewRecorder()
		tm.handler.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusNotFound, http.StatusPreconditionFailed, http.StatusMovedPermanently,
			http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		default:
			t.Fatalf("%q answered %d %q", path, rec.Code, rec.Body.String())
		}
		tm.tr.mu.RLock()
		n := len(tm.tr.remotes)
		tm.tr.mu.RUnlock()
		if n != 0 {
			t.Fatalf("a stream request without X-PeerURLs added %d remotes", n)
		}
	})
}

// FuzzMemberURI checks the certificate side of member identity: a URI
// SAN is accepted for at most one member ID, exactly the one
// memberIDFromURI reads from it, and MemberURI's output is accepted.
func FuzzMemberURI(f *testing.F) {
	f.Add("rafthttp://member/8e9e05c52164694d")
	f.Add("rafthttp://member/%32")
	f.Add("rafthttp://user@member/2?x#y")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		cert := &x509.Certificate{URIs: []*url.URL{u}}
		id, ok := memberIDFromURI(u)
		if got := VerifyMemberURI(id, cert) == nil; got != ok {
			t.Fatalf("%q: memberIDFromURI ok=%v but VerifyMemberURI(%s) ok=%v", s, ok, id, got)
		}
		if ok && VerifyMemberURI(id+1, cert) == nil {
			t.Fatalf("%q accepted for %s and %s", s, id, id+1)
		}
		if again, ok := memberIDFromURI(MemberURI(id)); !ok || again != id {
			t.Fatalf("MemberURI(%s) reads back as %s, %v", id, again, ok)
		}
		if back, err := url.Parse(MemberURI(id).String()); err != nil || VerifyMemberURI(id, &x509.Certificate{URIs: []*url.URL{back}}) != nil {
			t.Fatalf("MemberURI(%s) does not survive encoding: %v", id, err)
		}
	})
}
