package fork

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"os"
)

// Chunks of pool tasks and their outcomes, as they travel between the
// parent and a worker:
//
//	item    = length uint32 (little endian) | encoded argument
//	outcome = status byte (itemOK, itemErr) | length uint32 | encoded
//	          result, or a gob-encoded RemoteError
//
// The reader checks every length against what is left: a message from a
// misbehaving peer is an error, never an out-of-range read.
const (
	itemOK  = 0
	itemErr = 1
)

func appendItem(dst, item []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(item)))
	return append(dst, item...)
}

func nextItem(b []byte) (item, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%w: truncated item", errFrame)
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, fmt.Errorf("%w: item of %d bytes, %d left", errFrame, n, len(b)-4)
	}
	return b[4 : 4+n], b[4+n:], nil
}

func appendFailure(out []byte, task, msg string, panicked bool, stack string) []byte {
	var b bytes.Buffer
	_ = gob.NewEncoder(&b).Encode(&RemoteError{Task: task, Pid: os.Getpid(), Message: msg, Panic: panicked, Stack: stack})
	out = append(out, itemErr)
	return appendItem(out, b.Bytes())
}

// nextOutcome reads one outcome: the encoded result, or the task's error.
func nextOutcome(b []byte) (val []byte, taskErr error, rest []byte, err error) {
	if len(b) < 1 {
		return nil, nil, nil, fmt.Errorf("%w: truncated outcome", errFrame)
	}
	status := b[0]
	data, rest, err := nextItem(b[1:])
	if err != nil {
		return nil, nil, nil, err
	}
	switch status {
	case itemOK:
		return data, nil, rest, nil
	case itemErr:
		var re RemoteError
		if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&re); err != nil {
			return nil, nil, nil, fmt.Errorf("%w: error outcome: %v", errFrame, err)
		}
		return nil, &re, rest, nil
	}
	return nil, nil, nil, fmt.Errorf("%w: outcome status %d", errFrame, status)
}
