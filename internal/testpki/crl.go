package testpki

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"testing"
	"time"
)

// Encoding selects how WriteCRL writes a revocation list.
type Encoding int

const (
	// PEM writes one "X509 CRL" PEM block.
	PEM Encoding = iota
	// DER writes the raw ASN.1 bytes.
	DER
)

// WriteCRL signs a certificate revocation list that lists the certificates
// in certFiles (PEM files, as Issue writes them; none gives an empty list)
// and writes it to path in enc, replacing any file there. The list is valid
// from an hour ago for a day, and each one carries a higher CRL number
// than the last from this CA.
func (ca *CA) WriteCRL(t testing.TB, path string, enc Encoding, certFiles ...string) {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, f := range certFiles {
		entries = append(entries, x509.RevocationListEntry{
			SerialNumber:   SerialOf(t, f),
			RevocationTime: time.Now().Add(-time.Minute),
		})
	}
	ca.crlNumber++
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(ca.crlNumber),
		ThisUpdate:                time.Now().Add(-time.Hour),
		NextUpdate:                time.Now().Add(24 * time.Hour),
		RevokedCertificateEntries: entries,
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	data := der
	if enc == PEM {
		data = pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// SerialOf returns the serial number of the first certificate in the PEM
// file certFile.
func SerialOf(t testing.TB, certFile string) *big.Int {
	t.Helper()
	data, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s holds no PEM block", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber
}
