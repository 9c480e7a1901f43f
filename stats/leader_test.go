package stats

import (
	"fmt"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestLeaderStatsFollower(t *testing.T) {
	ls := NewLeaderStats(nil, "1")
	a := ls.Follower("a")
	if a.Latency.Minimum != 1<<63 {
		t.Errorf("new follower Minimum = %v, want 1<<63", a.Latency.Minimum)
	}
	if ls.Follower("a") != a {
		t.Errorf("second Follower call returned a different pointer")
	}
	if ls.Followers["a"] != a {
		t.Errorf("Followers map does not hold the follower")
	}
}

func TestLeaderStatsRemoveAndNames(t *testing.T) {
	tests := []struct {
		name   string
		add    []string
		remove []string
		want   []string
	}{
		{name: "none", want: []string{}},
		{name: "sorted", add: []string{"c", "a", "b"}, want: []string{"a", "b", "c"}},
		{name: "remove one", add: []string{"a", "b"}, remove: []string{"a"}, want: []string{"b"}},
		{name: "remove unknown", add: []string{"a"}, remove: []string{"zz"}, want: []string{"a"}},
		{name: "remove twice", add: []string{"a"}, remove: []string{"a", "a"}, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := NewLeaderStats(nil, "1")
			for _, n := range tt.add {
				ls.Follower(n)
			}
			for _, n := range tt.remove {
				ls.RemoveFollower(n)
			}
			if got := ls.FollowerNames(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FollowerNames = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestLeaderStatsJSON(t *testing.T) {
	ls := NewLeaderStats(nil, "abc")
	ls.Follower("f1").Succ(2 * time.Millisecond)
	ls.Follower("f2").Fail()
	got := decode(t, ls.JSON())
	if got["leader"] != "abc" {
		t.Errorf("leader = %v", got["leader"])
	}
	followers := got["followers"].(map[string]any)
	f1 := followers["f1"].(map[string]any)
	lat := f1["latency"].(map[string]any)
	for _, key := range []string{"current", "average", "standardDeviation", "minimum", "maximum"} {
		if _, ok := lat[key]; !ok {
			t.Errorf("latency lacks %q: %v", key, lat)
		}
	}
	if lat["current"] != 2.0 {
		t.Errorf("f1 current = %v, want 2", lat["current"])
	}
	counts := followers["f2"].(map[string]any)["counts"].(map[string]any)
	if counts["fail"] != 1.0 || counts["success"] != 0.0 {
		t.Errorf("f2 counts = %v", counts)
	}
	if m := followers["f2"].(map[string]any)["latency"].(map[string]any)["minimum"]; m != math.Ldexp(1, 63) {
		t.Errorf("f2 minimum = %v, want 2^63", m)
	}
}

func TestLeaderStatsConcurrent(t *testing.T) {
	ls := NewLeaderStats(nil, "1")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				name := fmt.Sprint(j % 5)
				switch i % 4 {
				case 0:
					ls.Follower(name).Succ(time.Duration(j) * time.Microsecond)
				case 1:
					ls.Follower(name).Fail()
				case 2:
					ls.RemoveFollower(name)
					_ = ls.FollowerNames()
				default:
					decode(t, ls.JSON())
				}
			}
		})
	}
	wg.Wait()
}
