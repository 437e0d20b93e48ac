package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"authgate/internal/auth"
)

// checkedPOST is gqlgen's POST transport behind a check of the body: a body
// gqlgen cannot decode is answered with BAD_USER_INPUT and at most a short
// excerpt of it, where gqlgen's own message quotes the whole body back.
// It accepts exactly the bodies gqlgen accepts (one JSON object, read as
// gqlgen reads it), so nothing that worked is refused.
type checkedPOST struct{ transport.POST }

// excerptBytes bounds how much of a malformed body an answer quotes, on
// each side of the place where it goes wrong.
const excerptBytes = 16

// Do answers a malformed body itself and hands the rest to gqlgen.
func (t checkedPOST) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeRequestError(w, r, exec, http.StatusBadRequest, "could not read the request body")
		return
	}
	if problem := bodyProblem(body); problem != "" {
		writeRequestError(w, r, exec, http.StatusBadRequest, problem)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	t.POST.Do(w, r, exec)
}

// bodyProblem says what is wrong with a POST body, or "" when gqlgen can
// decode it.
func bodyProblem(body []byte) string {
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return `the request body is empty: send {"query": "…"}`
	case trimmed[0] == '[':
		return "batched (array) request bodies are not supported: send one operation per request"
	}
	// The same decoding gqlgen does (the first JSON value), into fields that
	// refuse what gqlgen's refuse: any JSON value decodes into gqlgen's
	// map[string]any values, so raw values check the same, with less work.
	var params struct {
		Query         string                     `json:"query"`
		OperationName string                     `json:"operationName"`
		Variables     map[string]json.RawMessage `json:"variables"`
		Extensions    map[string]json.RawMessage `json:"extensions"`
	}
	err := json.NewDecoder(bytes.NewReader(body)).Decode(&params)
	if err == nil {
		return ""
	}
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("the request body is not valid JSON: %s at byte %d (near %s)",
			strings.TrimPrefix(syntaxErr.Error(), "json: "), syntaxErr.Offset, excerpt(body, syntaxErr.Offset))
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Sprintf("the request body's %q must not be a JSON %s", typeErr.Field, typeErr.Value)
	case errors.As(err, &typeErr):
		return `the request body must be a JSON object: {"query": "…", "variables": {…}}`
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("the request body is not valid JSON: it ends too early (near %s)", excerpt(body, int64(len(body))))
	}
	return "the request body is not a GraphQL request"
}

// excerpt quotes a few bytes of body on each side of offset, escaped so
// that nothing a client sent can break the answer or a terminal.
func excerpt(body []byte, offset int64) string {
	from := max(0, int(offset)-excerptBytes)
	to := min(len(body), int(offset)+excerptBytes)
	s := fmt.Sprintf("%q", body[from:to])
	if from > 0 {
		s = "…" + s
	}
	if to < len(body) {
		s += "…"
	}
	return s
}

// unsupportedRequest takes every request no other transport takes (gqlgen
// would answer those with a bare "transport not supported") and answers
// BAD_USER_INPUT, saying what to send. It must be added last.
type unsupportedRequest struct{}

// Supports takes any request.
func (unsupportedRequest) Supports(*http.Request) bool { return true }

// Do refuses the request: 415 for a POST whose body is not declared JSON.
func (unsupportedRequest) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if r.Method == http.MethodPost {
		got := r.Header.Get("Content-Type")
		if got == "" {
			got = "none"
		}
		writeRequestError(w, r, exec, http.StatusUnsupportedMediaType,
			fmt.Sprintf("POST /graphql needs Content-Type: application/json (got %.60q)", got))
		return
	}
	writeRequestError(w, r, exec, http.StatusBadRequest,
		"unsupported request: send a POST with Content-Type: application/json, or a GET with ?query= for queries (no websockets)")
}

// writeRequestError answers a request gqlgen never parsed, with
// BAD_USER_INPUT, through the executor so that the error presenter and the
// response middleware see it like any other.
func writeRequestError(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, status int, message string) {
	err := &gqlerror.Error{Message: message, Extensions: map[string]any{"code": string(auth.CodeBadUserInput)}}
	resp := exec.DispatchError(r.Context(), gqlerror.List{err})
	b, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
