// Command backend is the benchmark's backend in the style of the Go original
// (kevin-cantwell/ptth): it dials the router's tunnel port and serves HTTP/2
// on that connection (golang.org/x/net/http2, Server.ServeConn: the router
// is the client). It serves the routes of bench/handlers.ts that the rate
// and transfer scenarios use:
//
//   - GET /tiny: "bar";
//   - POST /echo: the request body back;
//   - GET /download?bytes=N: N bytes in 256 KiB chunks;
//   - PUT|POST /upload: reads the body, answers {"bytes":N}.
//
// It prints {"event":"ready"} once connected and exits when the connection
// ends. Build (GOPATH mode, Debian's golang-golang-x-net-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build ./bench/go_original/backend
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"

	"golang.org/x/net/http2"
)

const downloadChunk = 256 * 1024

func main() {
	router := flag.String("router", "127.0.0.1:8887", "the router's tunnel address")
	flag.Parse()

	pattern := make([]byte, downloadChunk)
	for i := range pattern {
		pattern[i] = byte(i)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/tiny", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("bar"))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	})
	mux.HandleFunc("/download", func(w http.ResponseWriter, r *http.Request) {
		total, _ := strconv.Atoi(r.URL.Query().Get("bytes"))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(total))
		for sent := 0; sent < total; {
			n := total - sent
			if n > downloadChunk {
				n = downloadChunk
			}
			if _, err := w.Write(pattern[:n]); err != nil {
				return
			}
			sent += n
		}
	})
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"bytes":` + strconv.FormatInt(n, 10) + `}`))
	})

	conn, err := net.Dial("tcp", *router)
	if err != nil {
		log.Fatal(err)
	}
	os.Stdout.Write([]byte("{\"event\":\"ready\"}\n"))
	// More streams at once than the default 250: the 256-connection runs and
	// h2load's 500 streams all go through this one tunnel.
	server := &http2.Server{MaxConcurrentStreams: 1000}
	server.ServeConn(conn, &http2.ServeConnOpts{Handler: mux})
}
