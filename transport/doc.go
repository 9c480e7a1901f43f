// Package transport builds the TLS configuration rafthttp uses between
// peers, from a TLSInfo that names certificate files on disk.
//
// Unlike etcd's client/pkg/transport, from which TLSInfo's field names come,
// every handshake reads the key pair and the trusted CA bundle from disk
// again. Replacing those files (certificate rotation, or rotating the CA
// itself) therefore takes effect on the next connection without rebuilding
// any tls.Config, and a file that cannot be read fails that handshake
// rather than the process. To make the CA bundle reloadable, verification
// against TrustedCAFile runs in tls.Config.VerifyConnection instead of
// inside crypto/tls; see TLSInfo.ServerConfig and TLSInfo.ClientConfig for
// what that means for callers. TLSInfo.NewTLSDialer makes the client
// handshake itself, so it can check servers dialled by IP address, which
// ClientConfig alone cannot (Go sends no IP address in SNI).
//
// A revocation list (TLSInfo.CRLFile) is checked in the same hook on both
// sides, reread on every handshake and parsed again when it changes.
// TLSInfo.WrapListener is the server side of etcd's peer listener: it
// completes each handshake before Accept, checks that a client
// certificate matches its source address (etcd's client SAN check), and
// reports failures to TLSInfo.HandshakeFailure and, rate-limited, to the
// log.
package transport
