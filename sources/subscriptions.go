package sources

import (
	"net/http"

	"edgepush/hub"
	"edgepush/internal/jsonapi"
)

// appReply is the answer of GET /v1/subscriptions?app=A.
type appReply struct {
	App string         `json:"app"`
	IDs []hub.KeyCount `json:"ids"`
}

// keyReply is the answer of GET /v1/subscriptions?app=A&id=X.
type keyReply struct {
	App string `json:"app"`
	hub.KeyCount
}

// subscriptions answers who watches an app's ids, or one id.
func (a *api) subscriptions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for name, values := range q {
		switch {
		case name != "app" && name != "id":
			jsonapi.WriteError(w, http.StatusBadRequest, codeBadRequest, "unknown parameter "+name+"; use app and id")
			return
		case len(values) > 1:
			jsonapi.WriteError(w, http.StatusBadRequest, codeBadRequest, name+" given more than once")
			return
		}
	}
	app, id, hasID := q.Get("app"), q.Get("id"), q.Has("id")
	if hasID {
		if err := checkKey(hub.Key{App: app, ID: id}); err != nil {
			jsonapi.WriteError(w, err.status, err.code, err.msg)
			return
		}
	} else if err := checkKey(hub.Key{App: app, ID: "-"}); err != nil {
		jsonapi.WriteError(w, err.status, err.code, err.msg)
		return
	}
	ids, err := a.subs.App(r.Context(), app)
	if err != nil {
		a.logger.Error("api: subscriptions failed", "app", app, "err", err)
		jsonapi.WriteError(w, http.StatusServiceUnavailable, codeUnavailable, "subscriptions unavailable; retry")
		return
	}
	if ids == nil {
		ids = []hub.KeyCount{}
	}
	if !hasID {
		jsonapi.WriteJSON(w, http.StatusOK, appReply{App: app, IDs: ids})
		return
	}
	reply := keyReply{App: app, KeyCount: hub.KeyCount{ID: id, Nodes: map[string]int{}}}
	for _, kc := range ids {
		if kc.ID == id {
			reply.KeyCount = kc
		}
	}
	jsonapi.WriteJSON(w, http.StatusOK, reply)
}
