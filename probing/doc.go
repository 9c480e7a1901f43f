// Package probing measures the reachability, round-trip time and clock offset
// of remote HTTP endpoints. It is a drop-in replacement for
// github.com/xiang90/probing, the prober that etcd's rafthttp uses to watch
// its peers: the exported names, the JSON served by [NewHandler] and the
// accounting of [Status] are the same, so code ports by changing the import
// path.
//
// # Server side
//
// [NewHandler] answers every request, whatever its method, with status 200 and
// the body {"OK":true,"Now":"<RFC 3339 time>"} followed by a newline. It sets
// no Content-Type, so net/http sniffs "text/plain; charset=utf-8", exactly as
// etcd does.
//
// # Client side
//
// [Prober.AddHTTP] starts one probing loop per id. Once per interval (the first
// probe happens one interval after AddHTTP) the loop sends a bare GET to the
// currently pinned endpoint. A reply counts as a success when it has status
// 200 and decodes to a [Health] with OK set. Anything else is a failure: Loss
// and Total grow, Health becomes false, Err holds the cause and the loop pins
// the next endpoint in the list, wrapping around. A success grows Total, sets
// Health, clears Err and updates the smoothed round-trip time
// (SRTT = 7/8·SRTT + 1/8·RTT, seeded with the first RTT) and the clock
// difference (local now − remote Now − SRTT/2).
//
// # Differences from xiang90/probing
//
// The observable behaviour above is unchanged; the following are stricter:
//
//   - Every loop has an owner. Remove and RemoveAll cancel the loop, abort a
//     probe that is in flight, and return only after the goroutine has exited;
//     StopNotify is closed at that moment. A probe aborted this way is not
//     recorded.
//   - Each probe has a deadline of one interval, but never less than one second,
//     so a hanging peer costs at most one slot and is counted as a loss.
//   - At most 4 KiB of a reply is decoded and at most 4 KiB more is drained
//     before the body is closed, so a misbehaving peer cannot make the prober
//     read without bound and well-behaved connections are reused.
//   - AddHTTP validates its input instead of panicking later: an empty
//     endpoint list returns [ErrNoEndpoints], a non-positive interval returns
//     [ErrInvalidInterval], and an endpoint that does not parse as a URL
//     returns an error naming it.
//   - A reply with OK=false records an error instead of a nil one, and
//     transport and decoding errors are wrapped with the endpoint URL. The
//     text for a non-200 reply is kept byte for byte.
//   - Reset returns a Status to the state it had right after AddHTTP, so Err
//     and ClockDiff are cleared as well as the counters and SRTT.
package probing
