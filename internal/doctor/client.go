package doctor

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// maxBody bounds what is read of any reply; the doctor only reads small
// JSON documents and error texts.
const maxBody = 64 << 10

// peerClient sends the doctor's requests to one peer over HTTP/1.1, as
// etcd members talk to each other, presenting the client certificate when
// asked.
type peerClient struct {
	base    *url.URL
	tr      *http.Transport
	client  *http.Client
	timeout time.Duration
	ask     *clientAsk
}

func newPeerClient(base *url.URL, s *tlsSetup, timeout time.Duration) *peerClient {
	ask := &clientAsk{}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		TLSClientConfig:     s.config(s.sni(base.Hostname()), ask),
		TLSHandshakeTimeout: timeout,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	return &peerClient{base: base, tr: tr, client: &http.Client{Transport: tr}, timeout: timeout, ask: ask}
}

// reply is a read response: status, headers and at most maxBody bytes.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with headers h and reads the reply.
func (p *peerClient) do(ctx context.Context, method, path string, h http.Header) (reply, error) {
	return p.send(ctx, method, path, h, true)
}

// dialStream is do for a stream GET: a 200 reply's body is a stream that
// never ends, so it is closed unread.
func (p *peerClient) dialStream(ctx context.Context, path string, h http.Header) (reply, error) {
	return p.send(ctx, http.MethodGet, path, h, false)
}

func (p *peerClient) send(ctx context.Context, method, path string, h http.Header, readOK bool) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.base.JoinPath(path).String(), nil)
	if err != nil {
		return reply{}, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode == http.StatusOK && !readOK {
		return r, nil
	}
	r.body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return r, err
}

func (p *peerClient) close() { p.tr.CloseIdleConnections() }
