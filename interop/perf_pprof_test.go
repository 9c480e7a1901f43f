package interop

// A reader for the few fields of a pprof profile (profile.proto) that the
// suite's CPU split needs: each sample's values and labels, the sample
// types and the string table. The runtime writes repeated numbers packed
// when there are more than two and one by one otherwise; both are read.

import (
	"bytes"
	"compress/gzip"
	"errors"
	"maps"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers in profile.proto.
const (
	profSampleType  protowire.Number = 1 // Profile.sample_type: ValueType
	profSample      protowire.Number = 2 // Profile.sample: Sample
	profStringTable protowire.Number = 6 // Profile.string_table: string

	valueTypeType protowire.Number = 1 // ValueType.type: string index

	sampleValue protowire.Number = 2 // Sample.value: int64s
	sampleLabel protowire.Number = 3 // Sample.label: Label

	labelKeyField protowire.Number = 1 // Label.key: string index
	labelStrField protowire.Number = 2 // Label.str: string index
)

var errProfileField = errors.New("malformed profile field")

// protoField is one field of a message: a number, and either a varint or
// the bytes of a length-delimited field.
type protoField struct {
	num   protowire.Number
	typ   protowire.Type
	v     uint64
	bytes []byte
}

// eachField calls fn for each field of the message b, skipping fixed-size
// fields.
func eachField(b []byte, fn func(protoField) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errProfileField
		}
		b = b[n:]
		f := protoField{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errProfileField
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// numbers returns the values of a repeated integer field, packed or not.
func (f protoField) numbers() ([]int64, error) {
	if f.typ == protowire.VarintType {
		return []int64{int64(f.v)}, nil
	}
	var out []int64
	for b := f.bytes; len(b) > 0; {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return nil, errProfileField
		}
		out = append(out, int64(v))
		b = b[n:]
	}
	return out, nil
}

func parseProfile(b []byte) (*profileData, error) {
	p := &profileData{}
	err := eachField(b, func(f protoField) error {
		switch f.num {
		case profSampleType:
			return eachField(f.bytes, func(g protoField) error {
				if g.num == valueTypeType {
					p.sampleTypes = append(p.sampleTypes, int64(g.v))
				}
				return nil
			})
		case profSample:
			s, err := parseSample(f.bytes)
			p.samples = append(p.samples, s)
			return err
		case profStringTable:
			p.strs = append(p.strs, string(f.bytes))
		}
		return nil
	})
	return p, err
}

func parseSample(b []byte) (profileSample, error) {
	var s profileSample
	err := eachField(b, func(f protoField) error {
		switch f.num {
		case sampleValue:
			vs, err := f.numbers()
			s.values = append(s.values, vs...)
			return err
		case sampleLabel:
			key, str := int64(0), int64(0)
			err := eachField(f.bytes, func(g protoField) error {
				switch g.num {
				case labelKeyField:
					key = int64(g.v)
				case labelStrField:
					str = int64(g.v)
				}
				return nil
			})
			s.labels = append(s.labels, key, str)
			return err
		}
		return nil
	})
	return s, err
}

// TestProfileCPUByLabel reads a hand-built profile with values both
// packed and one by one, and samples with and without labels.
func TestProfileCPUByLabel(t *testing.T) {
	var b []byte
	str := func(field protowire.Number, s string) {
		b = protowire.AppendTag(b, field, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	msg := func(field protowire.Number, body []byte) {
		b = protowire.AppendTag(b, field, protowire.BytesType)
		b = protowire.AppendBytes(b, body)
	}
	varint := func(dst []byte, field protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(dst, field, protowire.VarintType), v)
	}
	// Strings: 0 "", 1 samples, 2 cpu, 3 side, 4 send, 5 recv.
	msg(profSampleType, varint(nil, valueTypeType, 1))
	msg(profSampleType, varint(nil, valueTypeType, 2))
	label := func(k, v uint64) []byte { return varint(varint(nil, labelKeyField, k), labelStrField, v) }
	sample := func(count, ns uint64, packed bool, labels ...[]byte) []byte {
		var s []byte
		if packed {
			s = protowire.AppendTag(s, sampleValue, protowire.BytesType)
			s = protowire.AppendBytes(s, protowire.AppendVarint(protowire.AppendVarint(nil, count), ns))
		} else {
			s = varint(varint(s, sampleValue, count), sampleValue, ns)
		}
		for _, l := range labels {
			s = protowire.AppendBytes(protowire.AppendTag(s, sampleLabel, protowire.BytesType), l)
		}
		return s
	}
	msg(profSample, sample(1, 10e6, false, label(3, 4)))
	msg(profSample, sample(2, 20e6, true, label(3, 4)))
	msg(profSample, sample(1, 10e6, true, label(3, 5)))
	msg(profSample, sample(1, 10e6, false))
	for _, s := range []string{"", "samples", "cpu", "side", "send", "recv"} {
		str(profStringTable, s)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := profileCPUByLabel(&gz)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"side=send": 30 * time.Millisecond, "side=recv": 10 * time.Millisecond, "": 10 * time.Millisecond}
	if !maps.Equal(got, want) {
		t.Errorf("CPU by label = %v, want %v", got, want)
	}
}
