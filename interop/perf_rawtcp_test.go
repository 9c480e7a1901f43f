package interop

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
)

// rawFrameOverhead stands in for a message's non-entry fields: each raw
// frame is an 8-byte length, then payload+20 bytes.
const rawFrameOverhead = 20

// rawBufSize is the bufio size on both ends of BenchmarkRawTCP.
const rawBufSize = 64 << 10

// BenchmarkRawTCP is the ceiling the MsgApp cases are compared with:
// pre-built length-prefixed frames written by one goroutine through a
// 64 KiB bufio.Writer to a loopback TCP connection and read by another
// with a 64 KiB bufio.Reader and io.ReadFull. No encoding, no HTTP. One op
// is one frame; its payload matches the MsgApp case of the same name.
func BenchmarkRawTCP(b *testing.B) {
	for _, s := range allShapes() {
		b.Run(s.name, func(b *testing.B) { benchRawFrames(b, s.payload()) })
	}
}

func benchRawFrames(b *testing.B, payload int) {
	b.SetBytes(int64(payload))
	b.ReportAllocs()
	b.ResetTimer()
	if err := sendRawFrames(payload, b.N); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// sendRawFrames sends n frames of payload bytes over a fresh loopback
// connection and returns once the reader has read them all.
func sendRawFrames(payload, n int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	readErr := make(chan error, 1)
	go func() { readErr <- readRawFrames(ln, n) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	frame := make([]byte, 8+payload+rawFrameOverhead)
	binary.BigEndian.PutUint64(frame, uint64(payload+rawFrameOverhead))
	w := bufio.NewWriterSize(c, rawBufSize)
	for range n {
		if _, err := w.Write(frame); err != nil {
			return fmt.Errorf("writing frames: %w (reader: %v)", err, <-readErr)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing frames: %w (reader: %v)", err, <-readErr)
	}
	return <-readErr
}

// readRawFrames accepts one connection and reads n frames from it.
func readRawFrames(ln net.Listener, n int) error {
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, rawBufSize)
	var hdr [8]byte
	var buf []byte
	for i := range n {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		size := binary.BigEndian.Uint64(hdr[:])
		if size > 1<<24 {
			return fmt.Errorf("frame %d: length %d", i, size)
		}
		if uint64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		if _, err := io.ReadFull(r, buf[:size]); err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
	}
	return nil
}
