package rafthttp

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// majorMinor is the part of a semantic version that compatibility checks
// compare; patch, pre-release and build metadata never matter.
type majorMinor struct {
	major, minor uint64
}

func (v majorMinor) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

// less reports whether v is older than o.
func (v majorMinor) less(o majorMinor) bool {
	if v.major != o.major {
		return v.major < o.major
	}
	return v.minor < o.minor
}

// parseMajorMinor reads a version as leniently as etcd's newest parser does:
// an optional "v", then MAJOR, MAJOR.MINOR or MAJOR.MINOR.PATCH, optionally
// followed by -prerelease and +build. Unlike etcd it never panics: anything
// else is an error, which callers treat as an incompatible peer.
func parseMajorMinor(s string) (majorMinor, error) {
	core := strings.TrimPrefix(s, "v")
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	parts := strings.Split(core, ".")
	if len(parts) > 3 {
		return majorMinor{}, fmt.Errorf("rafthttp: malformed version %q", s)
	}
	var nums [3]uint64
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || (len(p) > 1 && p[0] == '0') {
			return majorMinor{}, fmt.Errorf("rafthttp: malformed version %q", s)
		}
		nums[i] = n
	}
	return majorMinor{major: nums[0], minor: nums[1]}, nil
}

// headerVersion returns the header's value, or the version etcd assumes
// for peers too old to send it.
func headerVersion(h http.Header, key string) string {
	if v := h.Get(key); v != "" {
		return v
	}
	return absentVersion
}

// supportsStreams reports whether a peer of version v serves both stream
// types. Every release since 2.1 does; 2.0 served neither.
func supportsStreams(v majorMinor) bool {
	return !v.less(majorMinor{major: 2, minor: 1})
}
