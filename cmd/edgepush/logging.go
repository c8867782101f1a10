package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"edgepush/internal/ratelog"
	"edgepush/netloop"
)

// newLogger returns the process's logger: cfg's format (-log-format) and
// level (-log-level), on w.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// routeLibraryLogs sends what the libraries would print to stderr by
// themselves through logger, so that every line has the chosen format (a
// JSON log stays one object a line): netpoll's and go-redis's lines as
// warnings with a rate limit, package log's (slog's default) as info.
func routeLibraryLogs(logger *slog.Logger) {
	slog.SetDefault(logger)
	netloop.LogNetpoll(ratelog.Logger(logger, ratelog.Options{Every: logEvery}))
	redis.SetLogger(redisLog{ratelog.Logger(logger, ratelog.Options{Every: logEvery})})
}

// redisLog is go-redis's logger: each line one warning, message "redis",
// the text in "detail".
type redisLog struct{ logger *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, "redis", "detail", fmt.Sprintf(format, v...))
}
