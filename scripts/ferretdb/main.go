// Command ferretdb runs an embedded FerretDB (MongoDB wire protocol) server
// backed by SQLite, for local development and tests.
//
// We build our own tiny main around the embeddable package because
// `go install github.com/FerretDB/FerretDB/cmd/ferretdb` panics when the
// generated build/version/version.txt file is missing from the module.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	sqliteDir := flag.String("sqlite-dir", "data", "directory for SQLite database files")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn, error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: invalid -log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if err := run(*listenAddr, *sqliteDir, logger); err != nil {
		logger.Error("ferretdb failed", "error", err)
		os.Exit(1)
	}
}

func run(listenAddr, sqliteDir string, logger *slog.Logger) error {
	// The SQLite backend wants a "file:" URI naming an existing directory
	// (with a trailing slash); an absolute path keeps it independent of cwd.
	dir, err := filepath.Abs(sqliteDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listenAddr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		return err
	}

	// Cancel on SIGINT/SIGTERM so Run closes the listener and the SQLite
	// databases cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger.Info("ferretdb listening", "addr", listenAddr, "sqlite", dir)
	return f.Run(ctx)
}
