package rawarray

import (
	"bytes"
	"encoding/gob"
	"fmt"
)

// Values and arrays encode with encoding/gob as their Ref and decode by
// opening it, so they can be passed whole as arguments of package fork's
// tasks: the child receives a working object mapped onto the same memory.
// The decoded object owns its mapping: Close it when done.

// gobRef is Ref without its binary marshaling methods, which gob would
// otherwise prefer and which leave out Seg.
type gobRef Ref

func encodeRef(r Ref, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(gobRef(r)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func decodeRef(data []byte) (Ref, error) {
	var r gobRef
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&r); err != nil {
		return Ref{}, fmt.Errorf("rawarray: decode reference: %w: %w", ErrRef, err)
	}
	return Ref(r), nil
}

// GobEncode encodes v as its Ref.
func (v *Value[T]) GobEncode() ([]byte, error) { return encodeRef(v.Ref()) }

// GobDecode opens the Value the encoded Ref names into v.
func (v *Value[T]) GobDecode(data []byte) error {
	return decodeInto(data, v, OpenValue[T])
}

// GobEncode encodes v as its Ref.
func (v *RawValue[T]) GobEncode() ([]byte, error) { return encodeRef(v.Ref()) }

// GobDecode opens the RawValue the encoded Ref names into v.
func (v *RawValue[T]) GobDecode(data []byte) error {
	return decodeInto(data, v, OpenRawValue[T])
}

// GobEncode encodes a as its Ref.
func (a *Array[T]) GobEncode() ([]byte, error) { return encodeRef(a.Ref()) }

// GobDecode opens the Array the encoded Ref names into a.
func (a *Array[T]) GobDecode(data []byte) error {
	return decodeInto(data, a, OpenArray[T])
}

// GobEncode encodes a as its Ref.
func (a *RawArray[T]) GobEncode() ([]byte, error) { return encodeRef(a.Ref()) }

// GobDecode opens the RawArray the encoded Ref names into a.
func (a *RawArray[T]) GobDecode(data []byte) error {
	return decodeInto(data, a, OpenRawArray[T])
}

func decodeInto[O any](data []byte, dst *O, open func(Ref) (*O, error)) error {
	r, err := decodeRef(data)
	if err != nil {
		return err
	}
	o, err := open(r)
	if err != nil {
		return err
	}
	*dst = *o
	return nil
}
