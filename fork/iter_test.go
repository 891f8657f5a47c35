package fork_test

import "iter"

func iterPull[V, E any](seq iter.Seq2[V, E]) (func() (V, E, bool), func()) {
	return iter.Pull2(seq)
}
