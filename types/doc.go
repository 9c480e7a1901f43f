// Package types holds the small value types rafthttp shares with its
// callers: member IDs written as hexadecimal strings, and validated, sorted
// lists of peer URLs.
//
// The exported names match etcd's client/pkg/types, so code written against
// that package ports by changing its import path. Unlike etcd, nothing here
// panics: every constructor reports bad input as an error.
package types
