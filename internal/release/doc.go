// Package release provides release stores: a store that no earlier load
// or store of the same goroutine is reordered after, so a reader that
// observes it with an atomic load (acquire) also observes everything the
// writer did before it. Unlike sync/atomic's Store, which is sequentially
// consistent, a release store does not order itself before later loads;
// on amd64 that makes it a plain store instead of a locked XCHG.
//
// Use it to publish data that readers discover by polling a word, where
// the writer needs no store-load ordering (no Dekker-style handshake);
// where it does, use sync/atomic. In race builds the stores are atomic, so
// the race detector sees the synchronization.
package release
