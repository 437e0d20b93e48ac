package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"authgate/internal/auth"
)

// refuseGETNonQuery answers a GET /graphql that gqlgen would refuse without
// an extensions.code, and reports whether it answered:
//   - an operation that is not a query: a mutation must not be triggered by
//     a link, an <img> or a prefetch, so it is refused with 405 and
//     BAD_USER_INPUT, as the GraphQL-over-HTTP spec says, before anything
//     runs;
//   - a malformed query string, or variables or extensions that are not a
//     JSON object: 400 and BAD_USER_INPUT.
//
// Parsing the query costs one pass over at most the header size limit; a
// query that does not parse is left to gqlgen, which reports it with a code.
func refuseGETNonQuery(w http.ResponseWriter, r *http.Request) bool {
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		graphQLError(w, http.StatusBadRequest, auth.CodeBadUserInput, "the query string is malformed")
		return true
	}
	for _, name := range []string{"variables", "extensions"} {
		if raw := params.Get(name); raw != "" {
			var obj map[string]any
			if json.Unmarshal([]byte(raw), &obj) != nil {
				graphQLError(w, http.StatusBadRequest, auth.CodeBadUserInput, name+" must be a JSON object")
				return true
			}
		}
	}
	doc, parseErr := parser.ParseQuery(&ast.Source{Input: params.Get("query")})
	if parseErr != nil {
		return false
	}
	op := doc.Operations.ForName(params.Get("operationName"))
	if op == nil || op.Operation == ast.Query {
		return false
	}
	w.Header().Set("Allow", "POST")
	graphQLError(w, http.StatusMethodNotAllowed, auth.CodeBadUserInput, "only queries may be sent with GET; send "+string(op.Operation)+"s with POST")
	return true
}
