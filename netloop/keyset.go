package netloop

import (
	"cmp"
	"slices"

	"edgepush/hub"
)

// keySet is a connection's subscriptions, a sorted slice: 32 bytes a key,
// against a few hundred for a map holding the one key most connections have.
type keySet []hub.Key

func compareKeys(a, b hub.Key) int {
	return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.ID, b.ID))
}

// add inserts k and reports whether it was not there yet.
func (s *keySet) add(k hub.Key) bool {
	i, found := slices.BinarySearchFunc(*s, k, compareKeys)
	if found {
		return false
	}
	*s = slices.Insert(*s, i, k)
	return true
}

// remove deletes k and reports whether it was there.
func (s *keySet) remove(k hub.Key) bool {
	i, found := slices.BinarySearchFunc(*s, k, compareKeys)
	if found {
		*s = slices.Delete(*s, i, i+1)
	}
	return found
}
