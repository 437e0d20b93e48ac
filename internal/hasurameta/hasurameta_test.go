package hasurameta

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

const stale = "hasura/ metadata is stale: run `go generate ./internal/hasurameta`"

// The committed hasura/metadata files are exactly what schema.graphql gives.
func TestCommittedMetadataMatchesSchema(t *testing.T) {
	sdl, err := os.ReadFile("../../schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	gql, yml, err := Generate(string(sdl))
	if err != nil {
		t.Fatalf("schema.graphql cannot become Hasura metadata: %v", err)
	}
	for _, f := range []struct {
		path string
		want []byte
	}{
		{"../../hasura/metadata/actions.graphql", gql},
		{"../../hasura/metadata/actions.yaml", yml},
	} {
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Errorf("%s (%v)", stale, err)
			continue
		}
		if !bytes.Equal(got, f.want) {
			t.Errorf("%s\n%s differs from what schema.graphql gives:\n%s", stale, f.path, firstDifference(string(got), string(f.want)))
		}
	}
	checkRoundTrip(t, string(sdl), gql)
}

// goldenSDL has a query action, nullable arguments, an argument description, a
// list output, a custom scalar, an enum, nested and recursive object types,
// descriptions that need escaping, a directive and an unused type.
const goldenSDL = `
"Seconds since 1970."
scalar Epoch

"How a session was opened."
enum Method {
  "With a password."
  PASSWORD
  LINK
}

type Mutation {
  "Sign up."
  signup(email: String!, password: String!): Payload!
  login(email: String!, password: String!, "Where from." device: String): Payload!
  refreshToken(refreshToken: String!): Payload!
  revoke(refreshToken: String!): Boolean!
  "End \"one\" session."
  endSession(id: ID!, method: Method): Boolean!
}

type Query {
  sessions(limit: Int): [Session!]!
}

type Payload {
  token: String!
  "The \\signed-in\\ user."
  user: Account
}

type Account {
  id: ID! @internal
  sessions: [Session!]
}

type Session {
  id: ID!
  startedAt: Epoch!
  method: Method!
  owner: Account!
}

type Unused {
  x: Int
}

directive @internal on FIELD_DEFINITION
`

const goldenGraphQL = "# Generated from authgate's schema.graphql by `go generate ./internal/hasurameta`:\n" +
	"# change schema.graphql and regenerate rather than editing this file.\n" + `
type Mutation {
  "Sign up."
  signup(email: String!, password: String!): Payload!
  login(
    email: String!
    password: String!
    "Where from."
    device: String
  ): Payload!
  refreshToken(refreshToken: String!): Payload!
  revoke(refreshToken: String!): Boolean!
  "End \"one\" session."
  endSession(id: ID!, method: Method): Boolean!
}

type Query {
  sessions(limit: Int): [Session!]!
}

"Seconds since 1970."
scalar Epoch

"How a session was opened."
enum Method {
  "With a password."
  PASSWORD
  LINK
}

type Payload {
  token: String!
  "The \\signed-in\\ user."
  user: Account
}

type Account {
  id: ID!
  sessions: [Session!]
}

type Session {
  id: ID!
  startedAt: Epoch!
  method: Method!
  owner: Account!
}
`

const goldenYAML = "# Generated from authgate's schema.graphql by `go generate ./internal/hasurameta`:\n" +
	"# change schema.graphql and regenerate rather than editing this file.\n" + `
actions:
  - name: signup
    definition:
      kind: synchronous
      handler: "{{AUTHGATE_URL}}/actions"
      forward_client_headers: true
      headers:
        - name: X-Action-Secret
          value_from_env: AUTHGATE_ACTION_SECRET
    permissions:
      - role: anonymous
      - role: user
      - role: mfa_pending
    comment: "Sign up."
  - name: login
    definition:
      kind: synchronous
      handler: "{{AUTHGATE_URL}}/actions"
      forward_client_headers: true
      headers:
        - name: X-Action-Secret
          value_from_env: AUTHGATE_ACTION_SECRET
    permissions:
      - role: anonymous
      - role: user
      - role: mfa_pending
  - name: refreshToken
    definition:
      kind: synchronous
      handler: "{{AUTHGATE_URL}}/actions"
      forward_client_headers: true
      headers:
        - name: X-Action-Secret
          value_from_env: AUTHGATE_ACTION_SECRET
    permissions:
      - role: anonymous
      - role: user
      - role: mfa_pending
  - name: revoke
    definition:
      kind: synchronous
      handler: "{{AUTHGATE_URL}}/actions"
      forward_client_headers: true
      headers:
        - name: X-Action-Secret
          value_from_env: AUTHGATE_ACTION_SECRET
    permissions:
      - role: anonymous
      - role: user
      - role: mfa_pending
  - name: endSession
    definition:
      kind: synchronous
      handler: "{{AUTHGATE_URL}}/actions"
      forward_client_headers: true
      headers:
        - name: X-Action-Secret
          value_from_env: AUTHGATE_ACTION_SECRET
    permissions:
      - role: user
      - role: mfa_pending
    comment: "End \"one\" session."
  - name: sessions
    definition:
      type: query
      handler: "{{AUTHGATE_URL}}/actions"
      forward_client_headers: true
      headers:
        - name: X-Action-Secret
          value_from_env: AUTHGATE_ACTION_SECRET
    permissions:
      - role: user
      - role: mfa_pending
custom_types:
  enums:
    - name: Method
      description: "How a session was opened."
  input_objects: []
  objects:
    - name: Payload
    - name: Account
    - name: Session
  scalars:
    - name: Epoch
      description: "Seconds since 1970."
`

func TestGenerateGolden(t *testing.T) {
	gql, yml, err := Generate(goldenSDL)
	if err != nil {
		t.Fatal(err)
	}
	if string(gql) != goldenGraphQL {
		t.Errorf("actions.graphql:\n%s", firstDifference(string(gql), goldenGraphQL))
	}
	if string(yml) != goldenYAML {
		t.Errorf("actions.yaml:\n%s", firstDifference(string(yml), goldenYAML))
	}
	checkRoundTrip(t, goldenSDL, gql)

	again, againYAML, err := Generate(goldenSDL)
	if err != nil || !bytes.Equal(again, gql) || !bytes.Equal(againYAML, yml) {
		t.Errorf("a second run gives different output (err %v)", err)
	}
}

// New schema fields, types and scalars come through with no code change, and a
// new operation is for signed-in users only.
func TestGenerateFollowsSchemaGrowth(t *testing.T) {
	sdl := goldenSDL + `
"Any JSON value."
scalar JSON

extend type Account {
  claims: JSON!
}

extend type Mutation {
  revokeAccessToken: Boolean!
}
`
	gql, yml, err := Generate(sdl)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\"Any JSON value.\"\nscalar JSON\n",
		"  sessions: [Session!]\n  claims: JSON!\n}\n",
		"  endSession(id: ID!, method: Method): Boolean!\n  revokeAccessToken: Boolean!\n}\n",
	} {
		if !strings.Contains(string(gql), want) {
			t.Errorf("actions.graphql lacks %q:\n%s", want, gql)
		}
	}
	for _, want := range []string{
		"  - name: revokeAccessToken\n    definition:\n      kind: synchronous\n      handler: \"{{AUTHGATE_URL}}/actions\"\n" +
			"      forward_client_headers: true\n      headers:\n        - name: X-Action-Secret\n" +
			"          value_from_env: AUTHGATE_ACTION_SECRET\n    permissions:\n      - role: user\n      - role: mfa_pending\n  - name: sessions\n",
		"    - name: JSON\n      description: \"Any JSON value.\"\n",
	} {
		if !strings.Contains(string(yml), want) {
			t.Errorf("actions.yaml lacks %q:\n%s", want, yml)
		}
	}
	checkRoundTrip(t, sdl, gql)
}

// publicSDL has the four public actions every authgate schema must keep.
const publicSDL = `
type Mutation {
  signup(email: String!): Boolean!
  login(email: String!): Boolean!
  refreshToken(refreshToken: String!): Boolean!
  revoke(refreshToken: String!): Boolean!
}
type Query {
  ok: Boolean!
}
`

func TestGenerateRefusesWhatHasuraActionsCannotSay(t *testing.T) {
	for _, tc := range []struct {
		name, sdl, want string
	}{
		{"an input object argument", publicSDL + `
input Credentials { email: String! }
extend type Mutation { signIn(credentials: Credentials!): Boolean! }`,
			"schema.graphql:13: Mutation.signIn argument credentials: input object type Credentials is not supported"},
		{"an interface output", publicSDL + `
interface Node { id: ID! }
type Thing implements Node { id: ID! }
extend type Query { node(id: ID!): Node }`,
			"Query.node: interface type Node is not supported as an action output"},
		{"a union output", publicSDL + `
type A { a: Int }
type B { b: Int }
union AorB = A | B
extend type Query { either: AorB! }`,
			"Query.either: union type AorB is not supported as an action output"},
		{"an interface inside an output object", publicSDL + `
interface Node { id: ID! }
type Wrapper { node: Node }
extend type Query { wrapped: Wrapper! }`,
			"Wrapper.node: interface type Node is not supported"},
		{"an enum as the whole output", publicSDL + `
enum Color { RED }
extend type Query { color: Color! }`,
			"Query.color: an action cannot return enum Color itself"},
		{"an object field with arguments", publicSDL + `
type Page { items(first: Int): [String!]! }
extend type Query { page: Page! }`,
			"Page.items: fields of Hasura custom object types take no arguments"},
		{"an argument default", publicSDL + `
extend type Query { list(limit: Int = 10): [String!]! }`,
			"Query.list argument limit: argument defaults are not supported"},
		{"a subscription", publicSDL + `
type Subscription { ticks: Int! }`,
			"type Subscription: Hasura actions cannot be subscriptions"},
		{"a query and a mutation with one name", publicSDL + `
extend type Query { login(email: String!): Boolean! }`,
			"Query.login: an action named login already exists"},
		{"a missing public action", strings.Replace(publicSDL, "revoke(refreshToken: String!): Boolean!", "logout: Boolean!", 1),
			"the public action revoke is not a field of Mutation or Query"},
		{"an unknown type", publicSDL + `
extend type Query { thing: Thing }`,
			"the schema does not load"},
		{"text that is not SDL", "type Mutation {", "the schema does not load"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gql, yml, err := Generate(tc.sdl)
			if err == nil {
				t.Fatalf("no error; got\n%s\n%s", gql, yml)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if gql != nil || yml != nil {
				t.Errorf("output alongside the error")
			}
		})
	}
}

func TestYAMLStringReadsBackAsTheString(t *testing.T) {
	for in, want := range map[string]string{
		"login":                    "login",
		"X-Action-Secret":          "X-Action-Secret",
		"on":                       `"on"`,
		"Null":                     `"Null"`,
		"{{AUTHGATE_URL}}/actions": `"{{AUTHGATE_URL}}/actions"`,
		"a: b # c":                 `"a: b # c"`,
		"two\nlines \"quoted\"":    `"two\nlines \"quoted\""`,
		"":                         `""`,
	} {
		if got := yamlString(in); got != want {
			t.Errorf("yamlString(%q) = %s, want %s", in, got, want)
		}
	}
}

// checkRoundTrip parses the generated actions.graphql as SDL (as Hasura
// does: type Mutation and type Query plus custom types, every used type
// declared) and checks that it says what the source schema says.
func checkRoundTrip(t *testing.T, sdl string, gql []byte) {
	t.Helper()
	src, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: sdl})
	if err != nil {
		t.Fatal(err)
	}
	out, err := gqlparser.LoadSchema(&ast.Source{Name: "actions.graphql", Input: string(gql)})
	if err != nil {
		t.Fatalf("generated actions.graphql does not load as SDL: %v", err)
	}
	for _, root := range []struct {
		name string
		src  *ast.Definition
	}{{"Mutation", src.Mutation}, {"Query", src.Query}} {
		if root.src == nil {
			continue
		}
		got := out.Types[root.name]
		if got == nil || got.Kind != ast.Object {
			t.Errorf("actions.graphql has no type %s", root.name)
			continue
		}
		if a, b := describeFields(root.src.Fields), describeFields(got.Fields); a != b {
			t.Errorf("type %s differs:\nschema.graphql:\n%s\nactions.graphql:\n%s", root.name, a, b)
		}
	}
	for name, def := range out.Types {
		if def.BuiltIn || name == "Mutation" || name == "Query" {
			continue
		}
		s := src.Types[name]
		if s == nil || s.Kind != def.Kind || s.Description != def.Description {
			t.Errorf("custom type %s (%s) is not the schema's", name, def.Kind)
			continue
		}
		if a, b := describeFields(s.Fields)+describeEnum(s), describeFields(def.Fields)+describeEnum(def); a != b {
			t.Errorf("custom type %s differs:\nschema.graphql:\n%s\nactions.graphql:\n%s", name, a, b)
		}
	}
}

// describeFields spells fields, arguments, types and descriptions, leaving out
// the introspection fields and directives.
func describeFields(fields ast.FieldList) string {
	var b strings.Builder
	for _, f := range fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		fmt.Fprintf(&b, "%q %s(", f.Description, f.Name)
		for _, a := range f.Arguments {
			fmt.Fprintf(&b, "%q %s: %s, ", a.Description, a.Name, a.Type)
		}
		fmt.Fprintf(&b, "): %s\n", f.Type)
	}
	return b.String()
}

func describeEnum(def *ast.Definition) string {
	var b strings.Builder
	for _, v := range def.EnumValues {
		fmt.Fprintf(&b, "%q %s\n", v.Description, v.Name)
	}
	return b.String()
}

// firstDifference shows the first line where got and want part.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || i >= len(g) || i >= len(w) {
			return fmt.Sprintf("line %d:\n  have %q\n  want %q", i+1, gl, wl)
		}
	}
	return "(no difference)"
}
