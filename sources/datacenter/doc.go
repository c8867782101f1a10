// Package datacenter is a simulated data center: the system the data
// service layer polls for real-time values, getRealTimeData(appID, ids) in
// the paper, at a fixed interval. It runs in process (edgepush -demo) or as
// the standalone command cmd/datacenter-sim, and it serves:
//
//	GET  /realtime?app=A&ids=X,Y,...  the current value of each asked id of A
//	GET  /healthz                     {"status":"ok"}
//	GET  /control                     the injected failure, the error rates and the request count
//	POST /control                     inject a failure, or clear it: {"fail":"5xx","app":"demo","ids":["001"],"for":"30s"}
//
// A 200 answer of /realtime is a Response:
//
//	{"app":"demo","items":[{"id":"001","ts":1700000000000,"value":21.53}]}
//
// ts is when the value last changed, in Unix milliseconds; value is any
// JSON value. The ids parameter is split on literal commas first and each
// part then unescaped with url.QueryUnescape, so an id holding a comma is
// sent as %2C (EncodeIDs, Query and ParseQuery are the two sides). An id
// the data center does not hold is absent from items, and an unknown app
// answers 200 with no items. Errors are JSON: {"error":{"code":...,"msg":...}}.
// docs/datacenter.md has the whole API.
//
// Each id's value changes by chance at every SimConfig.ChangeEvery of the
// sim's clock, with a kind of its own (Kind: numbers that walk, strings,
// bools, objects, arrays, null), and requests fail on purpose at the rates
// of SimConfig or as injected through Sim.Inject or POST /control. Sim.Asked
// and Sim.Requests count what a poller asked for.
//
// In a test:
//
//	clock := newFakeClock() // any func() time.Time
//	sim := datacenter.NewSim(datacenter.SimConfig{
//		IDList: []string{"a,b", "50%"},
//		Now:    clock.Now,
//		Rand:   rand.New(rand.NewPCG(1, 2)),
//	})
//	srv := httptest.NewServer(sim.Handler())
//	defer srv.Close()
//	res, err := http.Get(srv.URL + "/realtime?" + datacenter.Query("demo", []string{"a,b", "50%"}))
//	// ... decode a datacenter.Response; then sim.Asked("demo", "a,b") == 1
//	_ = sim.Inject(datacenter.Injection{Fault: datacenter.Fault5xx, For: 30 * time.Second})
//
// A FaultTimeout request hangs until SimConfig.Hang or until its context
// is done: serve the handler from an http.Server whose BaseContext ends at
// shutdown, or Shutdown waits for the hangs.
package datacenter
