package datacenter

import (
	"fmt"
	"slices"
	"time"

	"edgepush/hub"
)

// Fault is a way GET /realtime fails on purpose.
type Fault string

// The faults. Each fails the whole request: one HTTP answer carries every
// asked id.
const (
	// FaultNone is no fault; injecting it clears the injection.
	FaultNone Fault = "none"
	// Fault5xx answers 503 with a JSON error (code "unavailable").
	Fault5xx Fault = "5xx"
	// FaultTimeout holds the request for SimConfig.Hang, past a poller's
	// timeout, then answers 504 (code "timeout"); it ends at once, with no
	// answer, when the request's context is done.
	FaultTimeout Fault = "timeout"
	// FaultBadJSON answers 200, application/json, with the first half of
	// the right body: never valid JSON.
	FaultBadJSON Fault = "badjson"
	// FaultHuge answers 200 with a valid body of SimConfig.HugeSize bytes:
	// the right one with a long "pad" string member before "items".
	FaultHuge Fault = "huge"
)

// ParseFault reads a fault by its name: none, 5xx, timeout, badjson or
// huge.
func ParseFault(s string) (Fault, error) {
	switch f := Fault(s); f {
	case FaultNone, Fault5xx, FaultTimeout, FaultBadJSON, FaultHuge:
		return f, nil
	}
	return "", fmt.Errorf("unknown fault %q (want none, 5xx, timeout, badjson or huge)", s)
}

// Injection makes GET /realtime fail on purpose, on top of the random
// error rates of SimConfig (it wins over them for the requests it
// matches). A Sim holds one injection at a time.
type Injection struct {
	// Fault is how matching requests fail; FaultNone clears the injection.
	Fault Fault
	// App limits the injection to one app; empty: every app.
	App string
	// IDs limits it to requests that ask for at least one of these ids;
	// empty: every request (of App).
	IDs []string
	// Rate is the chance that a matching request fails, in 0..1; 0 means 1.
	Rate float64
	// For is how long the injection lasts on the sim's clock; 0 until it
	// is replaced.
	For time.Duration
}

// injection is the Sim's current injection.
type injection struct {
	Injection
	ids   map[string]bool
	until time.Time // zero: until replaced
}

// active reports whether the injection holds at now.
func (in *injection) active(now time.Time) bool {
	return in.Fault != "" && in.Fault != FaultNone && (in.until.IsZero() || now.Before(in.until))
}

// matches reports whether a request for ids of app falls under the
// injection.
func (in *injection) matches(app string, ids []string) bool {
	if in.App != "" && in.App != app {
		return false
	}
	if len(in.ids) == 0 {
		return true
	}
	for _, id := range ids {
		if in.ids[id] {
			return true
		}
	}
	return false
}

// Inject replaces the current injection with in (FaultNone clears it). It
// fails, changing nothing, for an unknown fault, an app or id that is not
// a valid key part, a rate outside 0..1 or a negative For.
func (s *Sim) Inject(in Injection) error {
	if _, err := ParseFault(string(in.Fault)); err != nil {
		return err
	}
	if in.App != "" {
		if err := hub.ValidatePart(in.App); err != nil {
			return fmt.Errorf("app: %w", err)
		}
	}
	for _, id := range in.IDs {
		if err := hub.ValidatePart(id); err != nil {
			return fmt.Errorf("id %q: %w", id, err)
		}
	}
	if !(in.Rate >= 0 && in.Rate <= 1) {
		return fmt.Errorf("rate %v is not in 0..1", in.Rate)
	}
	if in.For < 0 {
		return fmt.Errorf("for %v is negative", in.For)
	}
	if in.Rate == 0 {
		in.Rate = 1
	}
	in.IDs = slices.Clone(in.IDs)
	next := injection{Injection: in}
	if in.Fault != FaultNone {
		next.ids = make(map[string]bool, len(in.IDs))
		for _, id := range in.IDs {
			next.ids[id] = true
		}
		if in.For > 0 {
			next.until = s.cfg.Now().Add(in.For)
		}
	} else {
		next = injection{}
	}
	s.mu.Lock()
	s.injected = next
	s.mu.Unlock()
	if in.Fault == FaultNone {
		s.cfg.Logger.Info("datacenter: injection cleared")
	} else {
		s.cfg.Logger.Info("datacenter: injection set", "fail", string(in.Fault), "app", in.App, "ids", in.IDs, "rate", in.Rate, "for", in.For)
	}
	return nil
}

// Injected returns the injection in force at the sim's time now and when
// it ends (zero: when replaced); Fault is FaultNone when there is none.
func (s *Sim) Injected() (Injection, time.Time) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.injected.active(now) {
		return Injection{Fault: FaultNone}, time.Time{}
	}
	in := s.injected.Injection
	in.IDs = slices.Clone(in.IDs)
	return in, s.injected.until
}

// take counts a well-formed request for ids of app at now and draws its
// fault and its delay.
func (s *Sim) take(app string, ids []string, now time.Time) (Fault, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count(app, ids)
	delay := s.cfg.Latency
	if s.cfg.Jitter > 0 {
		delay += time.Duration(s.rng.Int64N(int64(s.cfg.Jitter)))
	}
	if in := &s.injected; in.active(now) && in.matches(app, ids) {
		if in.Rate >= 1 || s.rng.Float64() < in.Rate {
			return in.Fault, delay
		}
		return FaultNone, delay
	}
	c := &s.cfg
	if c.Error5xx+c.ErrorTimeout+c.ErrorBadJSON+c.ErrorHuge == 0 {
		return FaultNone, delay
	}
	u := s.rng.Float64()
	for _, r := range []struct {
		rate  float64
		fault Fault
	}{{c.Error5xx, Fault5xx}, {c.ErrorTimeout, FaultTimeout}, {c.ErrorBadJSON, FaultBadJSON}, {c.ErrorHuge, FaultHuge}} {
		if u < r.rate {
			return r.fault, delay
		}
		u -= r.rate
	}
	return FaultNone, delay
}
