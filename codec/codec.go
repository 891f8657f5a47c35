// Package codec turns Go values into bytes and back for shmkit's queues,
// process arguments and shared dictionaries.
//
// # Basics
//
// Values of fixed-size, pointer-free types (numbers, bools, arrays and
// structs of them) travel raw: their memory is copied as it is, with no
// encoding, so they cost a memcpy. Every other type goes through a Codec,
// which the user may replace. Two are provided:
//
//   - Gob (encoding/gob): any Go type gob handles; the default between Go
//     processes, where both sides share the type definitions.
//   - JSON (encoding/json): readable from other languages; the default where
//     data outlives the program or is shared with non-Go code (Redis).
//
// For[T] chooses: raw for pointer-free T, the codec otherwise.
//
//	c := codec.For[Point](nil) // Point{X, Y float64} travels raw
//	b, _ := c.Append(nil, Point{1, 2})
//	p, _ := c.Decode(b)
//
// # Caveats
//
//   - Raw bytes are in the machine's native byte order and layout: both
//     sides must be the same architecture (shared memory always is).
//   - Decode checks the length of raw data, not its meaning: bytes written
//     by another process are whatever it wrote.
package codec

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/shmkit/shmkit/ctypes"
)

// ErrSize: raw data has the wrong length for the type.
var ErrSize = errors.New("codec: raw data of the wrong size")

// Codec turns values into bytes and back. Marshal takes a value; Unmarshal
// takes a pointer to fill. Implementations must be safe for concurrent use.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

type gobCodec struct{}

// Gob is encoding/gob. Each message is self-contained (it carries its type
// description), so messages can be decoded independently and in any order.
var Gob Codec = gobCodec{}

func (gobCodec) Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(v); err != nil {
		return nil, fmt.Errorf("codec: gob: %w", err)
	}
	return b.Bytes(), nil
}

func (gobCodec) Unmarshal(data []byte, v any) error {
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
		return fmt.Errorf("codec: gob: %w", err)
	}
	return nil
}

type jsonCodec struct{}

// JSON is encoding/json.
var JSON Codec = jsonCodec{}

func (jsonCodec) Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("codec: json: %w", err)
	}
	return b, nil
}

func (jsonCodec) Unmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("codec: json: %w", err)
	}
	return nil
}

// Of encodes and decodes values of T: raw when T is pointer-free, through
// its Codec otherwise. The zero value is not usable; call For.
type Of[T any] struct {
	c    Codec
	raw  bool
	size int
}

// For returns the encoder for T, using c (nil means Gob) when T is not
// pointer-free.
func For[T any](c Codec) Of[T] {
	if c == nil {
		c = Gob
	}
	t := reflect.TypeFor[T]()
	return Of[T]{c: c, raw: ctypes.PointerFree(t) == nil, size: int(t.Size())}
}

// ForCodec returns the encoder for T that always uses c (nil means Gob),
// even when T is pointer-free: for stores other languages read.
func ForCodec[T any](c Codec) Of[T] {
	if c == nil {
		c = Gob
	}
	return Of[T]{c: c, size: int(reflect.TypeFor[T]().Size())}
}

// Raw reports whether values travel as raw memory.
func (o Of[T]) Raw() bool { return o.raw }

// Size is the encoded size of every value when Raw, or -1.
func (o Of[T]) Size() int {
	if o.raw {
		return o.size
	}
	return -1
}

// Codec is the codec used when values are not raw.
func (o Of[T]) Codec() Codec { return o.c }

// Append appends v's encoding to dst.
func (o Of[T]) Append(dst []byte, v T) ([]byte, error) {
	if o.raw {
		return append(dst, rawBytes(&v)...), nil
	}
	b, err := o.c.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// DecodeRaw decodes a raw value (Raw must be true) from data. Unlike
// Decode, data does not escape, so it may be a stack buffer.
func (o Of[T]) DecodeRaw(data []byte) (T, error) {
	var v T
	if !o.raw {
		return v, fmt.Errorf("codec: DecodeRaw of %s, which is not raw", reflect.TypeFor[T]())
	}
	if len(data) != o.size {
		return v, fmt.Errorf("%w: %d bytes for %s, which has %d", ErrSize, len(data), reflect.TypeFor[T](), o.size)
	}
	copy(rawBytes(&v), data)
	return v, nil
}

// Decode decodes a value from data, which it does not retain.
func (o Of[T]) Decode(data []byte) (T, error) {
	if o.raw {
		var v T // not the variable below, which escapes into Unmarshal
		if len(data) != o.size {
			return v, fmt.Errorf("%w: %d bytes for %s, which has %d", ErrSize, len(data), reflect.TypeFor[T](), o.size)
		}
		copy(rawBytes(&v), data)
		return v, nil
	}
	var v T
	err := o.c.Unmarshal(data, &v)
	return v, err
}
