package bench

import "time"

// maxFanouts bounds the pushes a Fanouts follows: the first ones seen are
// kept, so that a long run at a high rate does not grow it without end.
const maxFanouts = 4096

// Fanouts maps each push, by its send time (unix ns, as its payload
// carries it), to the arrival of its last copy (unix ns). Snapshots of
// several clients and processes merge into the whole fan-out of each push.
type Fanouts map[int64]int64

// record notes that a copy of the push sent at sent arrived at at.
func (f *Fanouts) record(sent, at time.Time) {
	if *f == nil {
		*f = Fanouts{}
	}
	s, a := sent.UnixNano(), at.UnixNano()
	last, ok := (*f)[s]
	if !ok && len(*f) >= maxFanouts {
		return
	}
	if a > last {
		(*f)[s] = a
	}
}

// Merge takes o's pushes into f, keeping each push's latest arrival.
func (f *Fanouts) Merge(o Fanouts) {
	if len(o) == 0 {
		return
	}
	if *f == nil {
		*f = make(Fanouts, len(o))
	}
	for s, a := range o {
		if a > (*f)[s] {
			(*f)[s] = a
		}
	}
}

// Spent is the time the pushes took to reach everyone, summed over pushes:
// from each send to its last arrival.
func (f Fanouts) Spent() time.Duration {
	var d time.Duration
	for s, a := range f {
		d += time.Duration(a - s)
	}
	return d
}
