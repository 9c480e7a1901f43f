module github.com/rafthttp/rafthttp/interop

go 1.26.0

require (
	github.com/rafthttp/rafthttp v0.0.0-00010101000000-000000000000
	github.com/xiang90/probing v0.0.0-20221125231312-a49e3df8f510
	go.etcd.io/etcd/api/v3 v3.7.4
	go.etcd.io/etcd/client/pkg/v3 v3.7.4
	go.etcd.io/etcd/server/v3 v3.7.4
	go.etcd.io/raft/v3 v3.7.0
	go.uber.org/goleak v1.3.0
	go.uber.org/zap v1.28.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/coreos/go-semver v0.3.1 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	go.etcd.io/etcd/pkg/v3 v3.7.4 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)

replace github.com/rafthttp/rafthttp => ../
