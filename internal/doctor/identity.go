package doctor

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/rafthttp/rafthttp"
)

// fetchVersion reads etcd's /version ({"etcdserver":..,"etcdcluster":..}).
// served is false when the peer has no such endpoint (a plain rafthttp
// Transport), which is not a problem.
func fetchVersion(ctx context.Context, pc *peerClient) (v VersionResult, served bool, err error) {
	r, err := pc.do(ctx, http.MethodGet, "/version", nil)
	if err != nil {
		return v, false, err
	}
	if r.status != http.StatusOK {
		return v, false, nil
	}
	var body struct {
		Server  string `json:"etcdserver"`
		Cluster string `json:"etcdcluster"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Server == "" {
		return v, false, nil
	}
	return VersionResult{Server: body.Server, Cluster: body.Cluster, Source: "/version"}, true, nil
}

// fetchMembers reads etcd's /members and the cluster ID it is served with.
// A peer without the endpoint, or answering it with something else than
// etcd's member list, returns no members and no error.
func fetchMembers(ctx context.Context, pc *peerClient) ([]Member, string, error) {
	r, err := pc.do(ctx, http.MethodGet, "/members", nil)
	if err != nil {
		return nil, "", err
	}
	if r.status != http.StatusOK {
		return nil, "", nil
	}
	var raw []struct {
		ID       uint64   `json:"id"`
		Name     string   `json:"name"`
		PeerURLs []string `json:"peerURLs"`
	}
	if json.Unmarshal(r.body, &raw) != nil {
		return nil, "", nil
	}
	members := make([]Member, len(raw))
	for i, m := range raw {
		members[i] = Member{ID: strconv.FormatUint(m.ID, 16), Name: m.Name, PeerURLs: m.PeerURLs}
	}
	return members, r.header.Get(rafthttp.HeaderClusterID), nil
}
