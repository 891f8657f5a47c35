package manager

// Test access to the shared-memory backend's internals, for the tests of
// package manager_test.

// SetShmHook sets the function called at named points inside mutations
// (a test kills the process there); nil restores the default.
func SetShmHook(f func(point string)) {
	if f == nil {
		f = func(string) {}
	}
	shmHook = f
}

// ShmRecoveries is how many times this process repaired an object or the
// directory after a lock holder died.
func ShmRecoveries() int64 { return shmRecoveries.Load() }

// ShmPessimistic makes the next n Updates of the Dict called name in m run
// under the lock from the start, as after a missed optimistic one.
func ShmPessimistic(m *Manager, name string, n int32) error {
	o, err := m.b.(*shmBackend).object(name)
	if err != nil {
		return err
	}
	o.pessimistic.Store(n)
	return nil
}
