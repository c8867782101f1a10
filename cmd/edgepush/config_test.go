package main

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

func defaults() Config {
	return Config{
		Listen:       ":8080",
		API:          "127.0.0.1:8081",
		MaxMessage:   65536,
		MaxIDs:       256,
		MaxPending:   1048576,
		PingInterval: 30 * time.Second,
		NodeID:       defaultNodeID(),
		HistorySize:  64,
		HistoryTTL:   2 * time.Minute,
		KeyTTL:       time.Hour,
		MessageRate:  100,
		MessageBurst: 200,
		PollInterval: time.Second,
		StaleAfter:   10 * time.Second,
		DrainTimeout: 30 * time.Second,
		LogLevel:     slog.LevelInfo,
		LogFormat:    "text",
		Histograms:   true,
	}
}

// with returns the defaults changed by change.
func with(change func(*Config)) Config {
	c := defaults()
	change(&c)
	return c
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    Config
		wantErr string // a part of the error; empty: no error
	}{
		{name: "defaults", want: defaults()},
		{name: "every flag", args: []string{
			"-listen", ":9000", "-api", "127.0.0.1:9001", "-demo", "-echo",
			"-max-message", "1024", "-max-ids", "16", "-max-pending", "4096",
			"-origins", "https://a.example, https://b.example,,", "-ping-interval", "5s", "-log-level", "debug",
		}, want: Config{
			Listen: ":9000", API: "127.0.0.1:9001", Demo: true, Echo: true,
			MaxMessage: 1024, MaxIDs: 16, MaxPending: 4096,
			Origins:      []string{"https://a.example", "https://b.example"},
			PingInterval: 5 * time.Second, LogLevel: slog.LevelDebug,
			HistorySize: 64, HistoryTTL: 2 * time.Minute, KeyTTL: time.Hour, MessageRate: 100, MessageBurst: 200,
			NodeID: defaultNodeID(), PollInterval: time.Second, StaleAfter: 10 * time.Second,
			DrainTimeout: 30 * time.Second, LogFormat: "text", Histograms: true,
		}},
		{name: "history and rate flags", args: []string{
			"-history-size", "8", "-history-ttl", "10s", "-key-ttl", "5m", "-message-rate", "2.5", "-message-burst", "3",
		}, want: with(func(c *Config) {
			c.HistorySize, c.HistoryTTL, c.KeyTTL, c.MessageRate, c.MessageBurst = 8, 10*time.Second, 5*time.Minute, 2.5, 3
		})},
		{name: "history size 0", args: []string{"-history-size", "0"}, wantErr: "-history-size"},
		{name: "history ttl 0", args: []string{"-history-ttl", "0s"}, wantErr: "-history-ttl"},
		{name: "key ttl negative", args: []string{"-key-ttl", "-1s"}, wantErr: "-key-ttl"},
		{name: "message rate 0", args: []string{"-message-rate", "0"}, wantErr: "-message-rate"},
		{name: "message rate NaN", args: []string{"-message-rate", "NaN"}, wantErr: "-message-rate"},
		{name: "message rate Inf", env: map[string]string{"EDGEPUSH_MESSAGE_RATE": "+Inf"}, wantErr: "-message-rate"},
		{name: "message burst 0", args: []string{"-message-burst", "0"}, wantErr: "-message-burst"},
		{name: "redis", args: []string{"-redis", "redis://127.0.0.1:6379/2"}, want: with(func(c *Config) { c.Redis = "redis://127.0.0.1:6379/2" })},
		{name: "redis from env", env: map[string]string{"EDGEPUSH_REDIS": "rediss://cache.internal:6380"}, want: with(func(c *Config) { c.Redis = "rediss://cache.internal:6380" })},
		{name: "node id", args: []string{"-node-id", "edge-7"}, want: with(func(c *Config) { c.NodeID = "edge-7" })},
		{name: "amqp", args: []string{"-redis", "redis://r:6379", "-amqp", "amqp://a:5672/, amqp://b:5672/"}, want: with(func(c *Config) {
			c.Redis, c.AMQP = "redis://r:6379", []string{"amqp://a:5672/", "amqp://b:5672/"}
		})},
		{name: "amqp without redis", args: []string{"-amqp", "amqp://a:5672/"}, wantErr: "-amqp needs -redis"},
		{name: "amqp bad url", args: []string{"-redis", "redis://r:6379", "-amqp", "http://a"}, wantErr: "-amqp"},
		{name: "reuseport", args: []string{"-reuseport"}, want: with(func(c *Config) { c.ReusePort = true })},
		{name: "node id empty", args: []string{"-node-id", ""}, wantErr: "-node-id"},
		{name: "node id with a brace", args: []string{"-node-id", "a{b"}, wantErr: "-node-id"},
		{name: "redis without scheme", args: []string{"-redis", "127.0.0.1:6379"}, wantErr: "-redis"},
		{name: "redis other scheme", args: []string{"-redis", "http://127.0.0.1:6379"}, wantErr: "-redis"},
		{name: "redis bad db", args: []string{"-redis", "redis://127.0.0.1:6379/x"}, wantErr: "-redis"},
		{name: "poller", args: []string{"-datacenter", "http://dc:8090/api", "-poll-apps", "a, b", "-poll-interval", "250ms", "-poll-every", "-stale-after", "3s"},
			want: with(func(c *Config) {
				c.DataCenter, c.PollApps, c.PollInterval, c.PollEvery, c.StaleAfter = "http://dc:8090/api", []string{"a", "b"}, 250*time.Millisecond, true, 3*time.Second
			})},
		{name: "datacenter without apps", args: []string{"-datacenter", "http://dc:8090"}, wantErr: "-poll-apps"},
		{name: "apps without datacenter", args: []string{"-poll-apps", "a"}, wantErr: "-datacenter"},
		{name: "datacenter not http", args: []string{"-datacenter", "dc:8090", "-poll-apps", "a"}, wantErr: "data center URL"},
		{name: "bad poll app", args: []string{"-datacenter", "http://dc", "-poll-apps", "a\x01"}, wantErr: "app"},
		{name: "poll app twice", args: []string{"-datacenter", "http://dc", "-poll-apps", "a,b,a"}, wantErr: "app \"a\" named twice"},
		{name: "bad poll interval", args: []string{"-poll-interval", "0s"}, wantErr: "-poll-interval"},
		{name: "every env variable", env: map[string]string{
			"EDGEPUSH_LISTEN": ":9000", "EDGEPUSH_API": "127.0.0.1:9001", "EDGEPUSH_DEMO": "true", "EDGEPUSH_ECHO": "1",
			"EDGEPUSH_MAX_MESSAGE": "1024", "EDGEPUSH_MAX_IDS": "16", "EDGEPUSH_MAX_PENDING": "4096",
			"EDGEPUSH_ORIGINS": "https://a.example", "EDGEPUSH_PING_INTERVAL": "1m", "EDGEPUSH_LOG_LEVEL": "WARN",
		}, want: Config{
			Listen: ":9000", API: "127.0.0.1:9001", Demo: true, Echo: true,
			MaxMessage: 1024, MaxIDs: 16, MaxPending: 4096,
			Origins:      []string{"https://a.example"},
			PingInterval: time.Minute, LogLevel: slog.LevelWarn,
			HistorySize: 64, HistoryTTL: 2 * time.Minute, KeyTTL: time.Hour, MessageRate: 100, MessageBurst: 200,
			NodeID: defaultNodeID(), PollInterval: time.Second, StaleAfter: 10 * time.Second,
			DrainTimeout: 30 * time.Second, LogFormat: "text", Histograms: true,
		}},
		{name: "flag wins over env", args: []string{"-max-ids", "8", "-demo=false"},
			env:  map[string]string{"EDGEPUSH_MAX_IDS": "99", "EDGEPUSH_DEMO": "true", "EDGEPUSH_ECHO": "true"},
			want: with(func(c *Config) { c.MaxIDs = 8; c.Echo = true })},
		{name: "flag wins over a bad env value", args: []string{"-max-ids", "8"},
			env:  map[string]string{"EDGEPUSH_MAX_IDS": "lots"},
			want: with(func(c *Config) { c.MaxIDs = 8 })},
		{name: "empty env value is unset", env: map[string]string{"EDGEPUSH_LISTEN": ""}, want: defaults()},
		{name: "other env variables ignored", env: map[string]string{"MAX_IDS": "1", "EDGEPUSH_MAXIDS": "1"}, want: defaults()},
		{name: "log levels", args: []string{"-log-level", "error"}, want: with(func(c *Config) { c.LogLevel = slog.LevelError })},
		{name: "no histograms", args: []string{"-latency-histograms=false"}, want: with(func(c *Config) { c.Histograms = false })},
		{name: "no histograms from env", env: map[string]string{"EDGEPUSH_LATENCY_HISTOGRAMS": "false"}, want: with(func(c *Config) { c.Histograms = false })},
		{name: "drain timeout", args: []string{"-drain-timeout", "3s"}, want: with(func(c *Config) { c.DrainTimeout = 3 * time.Second })},
		{name: "drain timeout 0", env: map[string]string{"EDGEPUSH_DRAIN_TIMEOUT": "0s"}, want: with(func(c *Config) { c.DrainTimeout = 0 })},
		{name: "drain timeout negative", args: []string{"-drain-timeout", "-1s"}, wantErr: "-drain-timeout must not be negative"},
		{name: "log format json", args: []string{"-log-format", "json"}, want: with(func(c *Config) { c.LogFormat = "json" })},
		{name: "log format from env", env: map[string]string{"EDGEPUSH_LOG_FORMAT": "JSON"}, want: with(func(c *Config) { c.LogFormat = "json" })},
		{name: "bad log format", args: []string{"-log-format", "xml"}, wantErr: `unknown log format "xml": use text or json`},
		{name: "bad env log format", env: map[string]string{"EDGEPUSH_LOG_FORMAT": "logfmt"}, wantErr: `EDGEPUSH_LOG_FORMAT="logfmt"`},
		{name: "bool flag form", args: []string{"-demo=true", "--echo"}, want: with(func(c *Config) { c.Demo = true; c.Echo = true })},

		{name: "bad env int", env: map[string]string{"EDGEPUSH_MAX_IDS": "lots"}, wantErr: `EDGEPUSH_MAX_IDS="lots"`},
		{name: "bad env bool", env: map[string]string{"EDGEPUSH_DEMO": "yes please"}, wantErr: `EDGEPUSH_DEMO="yes please"`},
		{name: "bad env duration", env: map[string]string{"EDGEPUSH_PING_INTERVAL": "30"}, wantErr: "EDGEPUSH_PING_INTERVAL"},
		{name: "bad env level", env: map[string]string{"EDGEPUSH_LOG_LEVEL": "verbose"}, wantErr: "EDGEPUSH_LOG_LEVEL"},
		{name: "bad flag int", args: []string{"-max-message", "64k"}, wantErr: "-max-message"},
		{name: "bad level", args: []string{"-log-level", "trace"}, wantErr: "unknown level"},
		{name: "level with offset", args: []string{"-log-level", "info+2"}, wantErr: "unknown level"},
		{name: "unknown flag", args: []string{"-port", "80"}, wantErr: "-port"},
		{name: "stray argument", args: []string{"serve"}, wantErr: `unexpected argument "serve"`},
		{name: "zero max-message", args: []string{"-max-message", "0"}, wantErr: "-max-message must be positive"},
		{name: "negative max-ids", env: map[string]string{"EDGEPUSH_MAX_IDS": "-1"}, wantErr: "-max-ids must be positive"},
		{name: "zero max-pending", args: []string{"-max-pending", "0"}, wantErr: "-max-pending must be positive"},
		{name: "negative ping-interval", args: []string{"-ping-interval", "-1s"}, wantErr: "-ping-interval must be positive"},
		{name: "empty listen", args: []string{"-listen", ""}, wantErr: "-listen is empty"},
		{name: "empty api", args: []string{"-api="}, wantErr: "-api is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(name string) string { return tt.env[name] }
			got, err := parseConfig(tt.args, getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("config =\n%+v, want\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseConfigHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		if _, err := parseConfig([]string{arg}, func(string) string { return "" }); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: error = %v, want flag.ErrHelp", arg, err)
		}
	}
}

func TestEnvName(t *testing.T) {
	for flagName, want := range map[string]string{
		"listen":        "EDGEPUSH_LISTEN",
		"max-ids":       "EDGEPUSH_MAX_IDS",
		"ping-interval": "EDGEPUSH_PING_INTERVAL",
	} {
		if got := envName(flagName); got != want {
			t.Errorf("envName(%q) = %q, want %q", flagName, got, want)
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	noEnv := func(string) string { return "" }
	tests := []struct {
		name     string
		args     []string
		env      func(string) string
		wantCode int
		wantOut  string
	}{
		{"help", []string{"-h"}, noEnv, 0, "EDGEPUSH_MAX_IDS"},
		{"bad flag", []string{"-max-ids", "x"}, noEnv, 2, "edgepush -h"},
		{"bad env", nil, func(n string) string {
			if n == "EDGEPUSH_PING_INTERVAL" {
				return "soon"
			}
			return ""
		}, 2, `EDGEPUSH_PING_INTERVAL="soon"`},
		{"bad log format", []string{"-log-format", "yaml"}, noEnv, 2, `invalid value "yaml" for flag -log-format: unknown log format "yaml": use text or json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(tt.args, tt.env, &out); code != tt.wantCode {
				t.Errorf("exit code = %d, want %d; output:\n%s", code, tt.wantCode, out.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output lacks %q:\n%s", tt.wantOut, out.String())
			}
		})
	}
}
