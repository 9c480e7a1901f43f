package rafthttp

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// While a snapshot moves, both Transports list it; afterwards neither
// does, and the byte metrics hold its size.
func TestSnapshotTransfersObservable(t *testing.T) {
	const size = 2 << 20
	a := startMember(t, 1, func(tr *Transport) {
		utWithRegistry(tr)
		tr.Limits.SnapshotSendBytesPerSecond = 4 << 20 // about half a second
	})
	dir := t.TempDir()
	b := startMember(t, 2, func(tr *Transport) {
		utWithRegistry(tr)
		tr.Snapshotter = utSnapshotter(dir)
	})
	connect(t, a, b)
	sm := stSnapMessage(9, size)
	a.tr.SendSnapshot(sm)
	var sending, receiving SnapshotTransfer
	waitFor(t, 10*time.Second, "both sides to list the transfer with bytes moved", func() bool {
		as, bs := a.tr.SnapshotTransfers(), b.tr.SnapshotTransfers()
		if len(as) != 1 || len(bs) != 1 || as[0].Bytes == 0 || bs[0].Bytes == 0 {
			return false
		}
		sending, receiving = as[0], bs[0]
		return true
	})
	want := SnapshotTransfer{Peer: 2, Direction: SnapshotSending, Index: 9, Size: size}
	if got := (SnapshotTransfer{Peer: sending.Peer, Direction: sending.Direction, Index: sending.Index, Size: sending.Size}); got != want {
		t.Errorf("sender lists %+v, want %+v", got, want)
	}
	// The snapshot extension tells the receiver the size.
	if receiving.Peer != 1 || receiving.Direction != SnapshotReceiving || receiving.Size != size || receiving.Index != 9 {
		t.Errorf("receiver lists %+v, want peer 1, receiving, index 9, size %d", receiving, size)
	}
	if sending.LastProgress.Before(sending.Started) || sending.Bytes > size {
		t.Errorf("sender progress %+v is inconsistent", sending)
	}
	if !utWaitCloseNotify(t, sm, 20*time.Second) {
		t.Fatal("snapshot failed")
	}
	waitFor(t, 5*time.Second, "both lists to empty", func() bool {
		return a.tr.SnapshotTransfers() == nil && b.tr.SnapshotTransfers() == nil
	})
	to2, from1 := map[string]string{"To": "2"}, map[string]string{"From": "1"}
	for _, c := range []struct {
		m      *testMember
		name   string
		labels map[string]string
		want   float64
	}{
		{a, "etcd_network_snapshot_send_bytes_total", to2, size},
		{a, "etcd_network_snapshot_send_inflight_bytes", to2, 0},
		{b, "etcd_network_snapshot_receive_bytes_total", from1, size},
		{b, "etcd_network_snapshot_receive_inflight_bytes", from1, 0},
	} {
		if got := utMetricValue(t, utGatherer(t, c.m), c.name, c.labels); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSnapshotProgressLog(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	f := utNewFixture(t, func(tr *Transport) { tr.Logger = zap.New(core) })
	set := &f.env.snapshots.transfers
	tr := set.start(f.env, SnapshotSending, 2, 7, 1000, 5000)
	defer tr.end()
	tr.add(500) // too early for a line
	if logs.Len() != 0 {
		t.Fatalf("logged %d lines before the interval passed", logs.Len())
	}
	tr.loggedAt = time.Now().Add(-time.Second)
	tr.nextLog = time.Now()
	tr.add(500) // 1000 bytes in about a second; 2000 of 5000 done
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("logged %d lines, want 1", len(entries))
	}
	fields := entries[0].ContextMap()
	if entries[0].Message != "sending database snapshot" || fields["bytes"] != int64(2000) ||
		fields["percent"] != "40.0%" || fields["total-bytes"] != int64(5000) {
		t.Errorf("logged %q %v", entries[0].Message, fields)
	}
	if eta, ok := fields["eta"].(time.Duration); !ok || eta < 2*time.Second || eta > 4*time.Second {
		t.Errorf("eta = %v, want about 3s (3000 bytes left at about 1000 B/s)", fields["eta"])
	}
	if got := tr.snapshot(); got.Bytes != 1000 || got.Offset != 1000 {
		t.Errorf("snapshot() = %+v, want 1000 bytes from offset 1000", got)
	}
}

func TestSnapshotDirectionString(t *testing.T) {
	for d, want := range map[SnapshotDirection]string{SnapshotSending: "sending", SnapshotReceiving: "receiving", 0: "SnapshotDirection(0)"} {
		if got := d.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(d), got, want)
		}
	}
}
