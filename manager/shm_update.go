package manager

import (
	"context"
	"runtime"
	"sync/atomic"
)

// shmUpdate is one Dict.Update on the shared-memory backend's fast path
// for raw values. The protocol is dictUpdate's (read without the lock,
// compute, then under the lock store only if the value is unchanged, or
// compute again), but the caller computes in its own frame: fn, the key
// and the values stay in its stack buffers instead of closures on the
// heap. The sequence is
//
//	u, old, err := b.updateBegin(ctx, obj, key, buf)
//	defer u.end()
//	for { val := f(old, u.found()); old, done, err = b.updateCommit(ctx, &u, key, old, val, keep, buf); ... }
//
// and end releases the lock if a step returned holding it.
type shmUpdate struct {
	o      *shmObject
	m      *shmMap  // the generation old was read from
	p      shmProbe // where key was found in m, or where it would go
	locked bool     // the object's lock is held: the next commit stores as is
}

// found reports whether the key had a value when last read.
func (u *shmUpdate) found() bool { return u.p.found }

// end releases the object's lock if held. Idempotent.
func (u *shmUpdate) end() {
	if u.locked {
		u.locked = false
		shmUnlock(&u.o.e.mu)
	}
	runtime.KeepAlive(u.o)
	runtime.KeepAlive(u.m)
}

// updateBegin reads key's value of obj, appended to dst. It reads without
// the lock, unless the object's recent Updates found their values changed
// under them (then it takes the lock first, like dictUpdate).
func (b *shmBackend) updateBegin(ctx context.Context, obj string, key, dst []byte) (u shmUpdate, old []byte, err error) {
	if u.o, err = b.object(obj); err != nil {
		return u, nil, err
	}
	if u.o.pessimistic.Load() > 0 {
		u.o.pessimistic.Add(-1)
		if err := u.o.lockObj(ctx); err != nil {
			return u, nil, err
		}
		u.locked = true
	}
	old, err = u.read(key, dst)
	return u, old, err
}

// locate finds key in the object's current generation.
func (u *shmUpdate) locate(key []byte) (err error) {
	if u.m, err = u.o.view(); err != nil {
		return err
	}
	u.p = shmProbe{}
	if u.m != nil {
		u.p, err = u.m.probe(key)
	}
	return err
}

// read finds key in the object's current generation and appends its value
// to dst.
func (u *shmUpdate) read(key, dst []byte) ([]byte, error) {
	if err := u.locate(key); err != nil || !u.p.found {
		return dst, err
	}
	m := u.m
	off, _, vl, err := m.entry(u.p.ref)
	if err != nil {
		return nil, err
	}
	return m.appendValue(dst, off, vl), nil
}

// updateCommit stores val for key (deletes key when !keep), where val was
// computed from old, the value read last. Unless the lock is already held,
// it takes it and checks that key still has the value old: if not, it
// appends the current value to dst and returns it with done false, holding
// the lock — the caller computes again from it and commits again, which
// then stores unconditionally. The lock is released when done or on error.
func (b *shmBackend) updateCommit(ctx context.Context, u *shmUpdate, key, old, val []byte, keep bool, dst []byte) (cur []byte, done bool, err error) {
	defer func() {
		if done || err != nil {
			u.end()
		}
	}()
	if !u.locked {
		if err := u.o.lockObj(ctx); err != nil {
			return nil, false, err
		}
		u.locked = true
		m, err := u.o.view()
		if err != nil {
			return nil, false, err
		}
		found, p := u.p.found, u.p
		switch {
		case m == nil:
			p = shmProbe{}
		case found && u.m == m && atomic.LoadUint64(m.slot(p.slot)) == p.ref:
			// The key's slot still holds the entry read: no need to probe.
		default:
			if p, err = m.probe(key); err != nil {
				return nil, false, err
			}
		}
		if same, err := m.holds(p, old, found); err != nil {
			return nil, false, err
		} else if !same {
			u.o.pessimistic.Store(shmPessimisticUpdates)
			cur, err := u.read(key, dst)
			return cur, false, err
		}
		u.m, u.p = m, p
	}
	for range shmMaxRebuilds {
		need, err := u.m.dictApply(u.p, key, val, keep)
		if err != nil || need.none() {
			return nil, true, err
		}
		if err := u.o.rebuild(u.m, need, false); err != nil {
			return nil, false, err
		}
		if err := u.locate(key); err != nil {
			return nil, false, err
		}
	}
	return nil, false, shmCorruptf("%v %q: no room after %d new generations", u.o.kind, u.o.name, shmMaxRebuilds)
}

// dictSetRaw is Dict.Set's allocation-free path: key and val may be stack
// buffers (they do not escape), and no closure is made.
func (b *shmBackend) dictSetRaw(ctx context.Context, obj string, key, val []byte) error {
	var u shmUpdate
	var err error
	if u.o, err = b.object(obj); err != nil {
		return err
	}
	if err := u.o.lockObj(ctx); err != nil {
		return err
	}
	u.locked = true
	if err := u.locate(key); err != nil {
		u.end()
		return err
	}
	_, _, err = b.updateCommit(ctx, &u, key, nil, val, true, nil)
	return err
}
