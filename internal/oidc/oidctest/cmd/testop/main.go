// Command testop runs oidctest's OpenID provider (zitadel/oidc's, with its
// login form) for the browser test: the users of oidctest.Users (password
// oidctest.Password) and the client oidctest.ClientID with the redirect
// URIs given.
//
// usage: testop -addr 127.0.0.1:9998 -redirect http://127.0.0.1:8090/auth/corp/callback
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"authgate/internal/oidc/oidctest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9998", "where to listen; the issuer is http://ADDR")
	redirects := flag.String("redirect", "", "the client's redirect URIs, comma-separated")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: oidctest.Handler(issuer, strings.Split(*redirects, ",")...), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(os.Stdout, "testop: issuer", issuer)
	log.Fatal(srv.Serve(ln))
}
