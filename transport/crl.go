package transport

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

var (
	// ErrCertificateRevoked fails a handshake in which the peer presented a
	// certificate whose serial number TLSInfo.CRLFile lists.
	ErrCertificateRevoked = errors.New("transport: certificate revoked")

	errNoCRL = errors.New("transport: no revocation list found")
)

// crlPEMType is the PEM block type of a revocation list (RFC 7468).
const crlPEMType = "X509 CRL"

// parseCRLs reads revocation lists from the contents of a CRL file: one
// DER-encoded list, or PEM holding one or more "X509 CRL" blocks (other
// block types are skipped). It fails when the data holds no list or any
// list is malformed; it never panics on bad input.
func parseCRLs(data []byte) ([]*x509.RevocationList, error) {
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		crl, err := x509.ParseRevocationList(data)
		if err != nil {
			return nil, fmt.Errorf("transport: parsing DER revocation list: %w", err)
		}
		return []*x509.RevocationList{crl}, nil
	}
	var lists []*x509.RevocationList
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != crlPEMType {
			continue
		}
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("transport: parsing PEM revocation list %d: %w", len(lists)+1, err)
		}
		lists = append(lists, crl)
	}
	if len(lists) == 0 {
		return nil, errNoCRL
	}
	return lists, nil
}

// revokedSet holds the serial numbers (in hex) listed by a CRL file.
type revokedSet map[string]struct{}

func newRevokedSet(lists []*x509.RevocationList) revokedSet {
	set := make(revokedSet)
	for _, l := range lists {
		for _, e := range l.RevokedCertificateEntries {
			if e.SerialNumber != nil {
				set[e.SerialNumber.Text(16)] = struct{}{}
			}
		}
	}
	return set
}

// crlChecker checks certificates against a CRL file that is read again
// on every check, like the key pair and the CA bundle, and parsed again
// only when its contents changed. Reading and comparing the bytes, rather
// than trusting a modification time, never misses a same-size rewrite
// within the file system's timestamp granularity.
type crlChecker struct {
	path string
	lg   *zap.Logger

	mu      sync.Mutex
	raw     []byte     // guarded by mu: the contents revoked was built from
	revoked revokedSet // guarded by mu: nil until the first good read
	// failures logs a file that cannot be consulted, once per cause.
	failures *fileFailures
}

func newCRLChecker(path string, lg *zap.Logger) *crlChecker {
	return &crlChecker{path: path, lg: lg,
		failures: newFileFailures(lg, "cannot use CRL file; refusing handshakes until it reads well", "crl-file", path)}
}

// check returns an error wrapping ErrCertificateRevoked if the CRL file
// lists the serial number of any certificate in chain (as etcd, every
// certificate the peer presented, whoever issued it), or another error if
// the file cannot be read or parsed: a revocation list that cannot be
// consulted fails the handshake rather than letting a revoked peer in.
func (c *crlChecker) check(chain []*x509.Certificate) error {
	revoked, err := c.load()
	if err != nil {
		return err
	}
	for _, cert := range chain {
		if _, ok := revoked[cert.SerialNumber.Text(16)]; ok {
			return fmt.Errorf("%w: serial %x, subject %q", ErrCertificateRevoked,
				cert.SerialNumber, cert.Subject.String())
		}
	}
	return nil
}

// load reads the file and returns its serial numbers, parsing it only when
// the bytes differ from the last good read.
func (c *crlChecker) load() (revokedSet, error) {
	data, err := os.ReadFile(c.path)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("transport: reading CRL file: %w", err)
		c.failures.failed(err)
		return nil, err
	}
	if c.revoked != nil && bytes.Equal(data, c.raw) {
		c.failures.worked()
		return c.revoked, nil
	}
	lists, err := parseCRLs(data)
	if err != nil {
		err = fmt.Errorf("%w (%s)", err, c.path)
		c.failures.failed(err)
		return nil, err
	}
	c.raw, c.revoked = data, newRevokedSet(lists)
	c.failures.worked()
	c.logLoaded(lists)
	return c.revoked, nil
}

// logLoaded reports a newly read file; a list past its NextUpdate is
// still used, as etcd does, but the operator hears about it.
func (c *crlChecker) logLoaded(lists []*x509.RevocationList) {
	c.lg.Info("loaded certificate revocation list", zap.String("crl-file", c.path),
		zap.Int("lists", len(lists)), zap.Int("revoked", len(c.revoked)))
	now := time.Now()
	for _, l := range lists {
		if !l.NextUpdate.IsZero() && now.After(l.NextUpdate) {
			c.lg.Warn("certificate revocation list is past its next update", zap.String("crl-file", c.path),
				zap.String("issuer", l.Issuer.String()), zap.Time("next-update", l.NextUpdate))
		}
	}
}
