package poller

import (
	"context"
	"hash/fnv"
	"slices"
)

// owned returns the ids of app with subscribers that this node owns among
// the live members, sorted.
func (p *Poller) owned(ctx context.Context, app string) ([]string, error) {
	counts, err := p.watched.App(ctx, app)
	if err != nil {
		return nil, err
	}
	nodes, err := p.members.Live(ctx, p.cfg.Alive)
	if err != nil {
		return nil, err
	}
	self := p.members.Node()
	if !slices.Contains(nodes, self) {
		nodes = append(nodes, self)
	}
	var ids []string
	for _, kc := range counts {
		if kc.Subscribers > 0 && owner(nodes, app, kc.ID) == self {
			ids = append(ids, kc.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// owner picks the node of (app, id) by rendezvous hashing: the node with
// the highest hash of node, app and id. Every node that sees the same
// members picks the same one, and a node leaving moves only its own ids.
func owner(nodes []string, app, id string) string {
	var best string
	var bestScore uint64
	for _, n := range nodes {
		h := fnv.New64a()
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(app))
		h.Write([]byte{0})
		h.Write([]byte(id))
		if s := mix(h.Sum64()); best == "" || s > bestScore || (s == bestScore && n < best) {
			best, bestScore = n, s
		}
	}
	return best
}

// mix spreads FNV's bits (its high bits change little with the last bytes).
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
