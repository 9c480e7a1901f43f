package types

import (
	"strconv"
	"strings"
)

// ID identifies a raft member. Its zero value is the "no member" ID that
// raft itself uses for "none".
type ID uint64

// String formats i as lower-case hexadecimal with no "0x" prefix and no
// leading zeros; the zero ID formats as "0".
func (i ID) String() string {
	return strconv.FormatUint(uint64(i), 16)
}

// IDFromString parses s as a hexadecimal ID. Upper-case digits and leading
// zeros are accepted; a "0x" prefix, an empty string, or a value above
// 2^64-1 is an error.
func IDFromString(s string) (ID, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, err
	}
	return ID(v), nil
}

// IDSlice is a list of IDs that sorts in ascending numeric order. A nil
// IDSlice is an empty list.
type IDSlice []ID

// Len returns the number of IDs; it is part of sort.Interface.
func (p IDSlice) Len() int { return len(p) }

// Less reports whether p[i] is numerically below p[j]; it is part of
// sort.Interface.
func (p IDSlice) Less(i, j int) bool { return p[i] < p[j] }

// Swap exchanges p[i] and p[j]; it is part of sort.Interface.
func (p IDSlice) Swap(i, j int) { p[i], p[j] = p[j], p[i] }

// String joins the hexadecimal form of each ID with commas, in the slice's
// current order. An empty or nil slice yields "".
func (p IDSlice) String() string {
	parts := make([]string, len(p))
	for k, id := range p {
		parts[k] = id.String()
	}
	return strings.Join(parts, ",")
}
