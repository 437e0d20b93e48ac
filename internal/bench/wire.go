package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// wireClient is one worker's keep-alive HTTP/1.1 connection to one server.
// The request is written by hand and the answer read with http.ReadResponse,
// so a request costs a write and a read and no hand-off between goroutines.
// net/http's Transport runs two goroutines per connection and passes every
// request and answer between them over channels: on 2 shared cores the tool
// then spent about as much CPU per refresh as half the server's own.
// Not safe for concurrent use: each worker has its own.
type wireClient struct {
	base string // http://127.0.0.1:<port>, as target.base
	host string // 127.0.0.1:<port>
	conn net.Conn
	br   *bufio.Reader
	wbuf []byte
}

// newWireClient returns a client for base, which must name a loopback
// address.
func newWireClient(base string) (*wireClient, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("authgate-bench: %q is not an http:// URL", base)
	}
	if err := requireLoopback(u.Host); err != nil {
		return nil, err
	}
	return &wireClient{base: base, host: u.Host, wbuf: make([]byte, 0, 1024)}, nil
}

// do sends one request (headers are name, value pairs) and reads the whole
// answer. Any failure closes the connection; the next request dials again.
func (c *wireClient) do(ctx context.Context, method, path string, body []byte, headers ...string) (response, error) {
	reused := c.conn != nil
	res, err := c.roundTrip(ctx, method, path, body, headers)
	if err != nil && reused && staleConn(err) && ctx.Err() == nil {
		// The server closed the idle connection as the request went out
		// (its idle timeout): it never read it, so send it again, once.
		c.close()
		res, err = c.roundTrip(ctx, method, path, body, headers)
	}
	if err != nil {
		c.close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
	}
	return res, err
}

func (c *wireClient) roundTrip(ctx context.Context, method, path string, body []byte, headers []string) (response, error) {
	if c.conn == nil {
		d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", c.host)
		if err != nil {
			return response{}, err
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 4096)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	if err := c.conn.SetDeadline(deadline); err != nil {
		return response{}, err
	}
	b := append(c.wbuf[:0], method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.host...)
	b = append(b, "\r\nUser-Agent: authgate-bench\r\n"...)
	if body != nil {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		b = append(b, headers[i]...)
		b = append(b, ": "...)
		b = append(b, headers[i+1]...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	c.wbuf = b
	if _, err := c.conn.Write(b); err != nil {
		return response{}, err
	}
	res, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		return response{}, err
	}
	out, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	res.Body.Close()
	if err != nil {
		return response{}, err
	}
	if res.Close || len(out) > maxResponseBytes {
		// Unread bytes would be taken for the next answer.
		c.close()
		out = out[:min(len(out), maxResponseBytes)]
	}
	return response{status: res.StatusCode, body: out}, nil
}

// staleConn reports whether err is a connection the server had already
// closed: nothing of an answer arrived.
func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// close drops the connection, if any.
func (c *wireClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br = nil, nil
	}
}
