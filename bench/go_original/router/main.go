// Command router is the benchmark's router in the style of the Go original
// (kevin-cantwell/ptth): backends dial its tunnel port, and it takes each
// accepted connection as the client side of an HTTP/2 connection
// (golang.org/x/net/http2, Transport.NewClientConn on the accepted conn).
// Public requests reach a net/http server whose handler is an
// httputil.ReverseProxy; its Transport is that http2.Transport, whose
// connection pool hands out one of the tunnels at random.
//
// The public port also speaks h2c with prior knowledge (x/net/http2/h2c), so
// that h2load can drive it like the other targets.
//
// It prints one JSON line when it listens, {"event":"listening","port":P,
// "tunnelPort":T}, and one per tunnel that connects, {"event":"tunnel",
// "tunnels":N}. Build (GOPATH mode, Debian's golang-golang-x-net-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build ./bench/go_original/router
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"log"
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

var errNoTunnel = errors.New("no tunnel can take a request")

// tunnels is the Transport's connection pool: every connected tunnel, one
// chosen at random per request.
type tunnels struct {
	mu    sync.Mutex
	conns []*http2.ClientConn
}

func (t *tunnels) add(cc *http2.ClientConn) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.conns = append(t.conns, cc)
	return len(t.conns)
}

// GetClientConn reserves a stream on a random tunnel, trying the others in
// turn when that one cannot take one more (ClientConnPool's contract: the
// returned conn has accounted for the request).
func (t *tunnels) GetClientConn(_ *http.Request, _ string) (*http2.ClientConn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.conns)
	if n == 0 {
		return nil, errNoTunnel
	}
	first := rand.Intn(n)
	for i := 0; i < n; i++ {
		if cc := t.conns[(first+i)%n]; cc.ReserveNewRequest() {
			return cc, nil
		}
	}
	return nil, errNoTunnel
}

// MarkDead forgets a tunnel whose connection failed.
func (t *tunnels) MarkDead(cc *http2.ClientConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, c := range t.conns {
		if c == cc {
			t.conns = append(t.conns[:i], t.conns[i+1:]...)
			break
		}
	}
}

func emit(event map[string]interface{}) {
	line, _ := json.Marshal(event)
	os.Stdout.Write(append(line, '\n'))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "public HTTP address")
	tunnelAddr := flag.String("tunnel-addr", "127.0.0.1:0", "address backends dial")
	flag.Parse()

	public, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	tunnelListener, err := net.Listen("tcp", *tunnelAddr)
	if err != nil {
		log.Fatal(err)
	}

	pool := &tunnels{}
	transport := &http2.Transport{AllowHTTP: true, ConnPool: pool}
	go func() {
		for {
			conn, err := tunnelListener.Accept()
			if err != nil {
				log.Fatal(err)
			}
			cc, err := transport.NewClientConn(conn)
			if err != nil {
				log.Printf("tunnel from %s: %v", conn.RemoteAddr(), err)
				conn.Close()
				continue
			}
			emit(map[string]interface{}{"event": "tunnel", "tunnels": pool.add(cc)})
		}
	}()

	proxy := &httputil.ReverseProxy{
		Director: func(r *http.Request) {
			// Any authority will do: the pool, not the address, picks the tunnel.
			r.URL.Scheme = "http"
			r.URL.Host = r.Host
		},
		Transport: transport,
	}
	emit(map[string]interface{}{
		"event":      "listening",
		"port":       public.Addr().(*net.TCPAddr).Port,
		"tunnelPort": tunnelListener.Addr().(*net.TCPAddr).Port,
	})
	server := &http.Server{Handler: h2c.NewHandler(proxy, &http2.Server{})}
	log.Fatal(server.Serve(public))
}
