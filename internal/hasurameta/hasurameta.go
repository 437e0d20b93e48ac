// Package hasurameta derives the Hasura metadata for authgate's actions
// (hasura/metadata/actions.graphql and actions.yaml) from schema.graphql, so
// that the two doors into authgate can never describe different operations.
package hasurameta

//go:generate go run ./gen -schema ../../schema.graphql -out ../../hasura/metadata

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// What every action's definition carries: Hasura fills {{AUTHGATE_URL}} and
// the secret header from its own environment when it loads the metadata.
const (
	handlerURL    = "{{AUTHGATE_URL}}/actions"
	secretHeader  = "X-Action-Secret"
	secretEnv     = "AUTHGATE_ACTION_SECRET"
	anonymousRole = "anonymous"
	userRole      = "user"
	// mfaPendingRole is the only role of a one-factor token whose user's
	// roles all need two factors (auth.MFAPendingRole): it may still reach
	// authgate's own operations, to add or use a second factor.
	mfaPendingRole = "mfa_pending"
)

// publicActions are the operations that need no session. Hasura allows them
// to role anonymous and also to role user: a signed-in client still sends its
// bearer token when it refreshes early or logs out, and Hasura then runs the
// request as user. Every other action is for role user only. The emailed
// flows are public: their links may be opened on another device, signed
// out (changeEmail, which acts for its caller, is not one of them).
var publicActions = append(slices.Clone(corePublicActions),
	"sendVerificationEmail", "verifyEmail", "requestPasswordReset", "resetPassword",
	"requestEmailSignIn", "signInWithEmailToken", "signInWithEmailCode", "confirmEmailChange",
	"completeMfa", "beginPasskeySignIn", "finishPasskeySignIn",
	"exchangeAuthCode", "signInWithIdToken")

// corePublicActions are the public actions every authgate schema has:
// Generate refuses a schema that lacks one, since its permission would
// silently go.
var corePublicActions = []string{"signup", "login", "refreshToken", "revoke"}

// IsPublic reports whether an action needs no signed-in caller (signup,
// login, refreshToken, revoke, and the second steps of sign-ins:
// completeMfa, beginPasskeySignIn, finishPasskeySignIn; and the provider
// sign-ins: exchangeAuthCode, signInWithIdToken). Every other action acts for its caller, and
// /actions runs it only for a live session: a new action is caller-bound
// unless it is added to the public ones here.
func IsPublic(action string) bool { return slices.Contains(publicActions, action) }

// Generate derives Hasura's actions.graphql and actions.yaml from authgate's
// GraphQL schema (the text of schema.graphql). Every field of the Mutation
// type becomes a synchronous mutation action and every field of the Query
// type a query action, with the same arguments, output type and description;
// every object type, enum and custom scalar those reach becomes a custom type.
// The output depends only on the schema text and follows its order.
//
// It fails, saying where, when the schema does not load or uses something an
// action cannot express faithfully: subscriptions, input objects, interfaces,
// unions, an enum as an action's whole output, arguments on object fields,
// argument defaults; and when one of the public actions (signup, login,
// refreshToken, revoke) is missing, since its permission would silently go.
func Generate(schemaSDL string) (actionsGraphQL, actionsYAML []byte, err error) {
	m, err := derive(schemaSDL)
	if err != nil {
		return nil, nil, err
	}
	return m.graphQL(), m.yaml(), nil
}

// metadata is everything both files are written from, in output order.
type metadata struct {
	actions []action
	types   []*ast.Definition // custom types (objects, enums, scalars) in schema order
}

type action struct {
	field *ast.FieldDefinition
	query bool
	roles []string
}

// deriver walks the schema from the root fields and collects the custom types
// they reach.
type deriver struct {
	schema  *ast.Schema
	reached map[string]*ast.Definition
}

func derive(sdl string) (*metadata, error) {
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: sdl})
	if err != nil {
		return nil, fmt.Errorf("hasurameta: the schema does not load: %w", err)
	}
	if schema.Subscription != nil && len(rootFields(schema.Subscription)) > 0 {
		return nil, fmt.Errorf("hasurameta: %stype %s: Hasura actions cannot be subscriptions",
			at(schema.Subscription.Position), schema.Subscription.Name)
	}

	type root struct {
		def   *ast.Definition
		query bool
	}
	var roots []root
	if schema.Mutation != nil {
		roots = append(roots, root{schema.Mutation, false})
	}
	if schema.Query != nil {
		roots = append(roots, root{schema.Query, true})
	}
	sort.SliceStable(roots, func(i, j int) bool { return before(roots[i].def, roots[j].def) })

	public := make(map[string]bool, len(publicActions))
	for _, name := range publicActions {
		public[name] = true
	}
	d := &deriver{schema: schema, reached: map[string]*ast.Definition{}}
	m := &metadata{}
	seen := map[string]bool{}
	for _, r := range roots {
		for _, f := range rootFields(r.def) {
			if seen[f.Name] {
				// Hasura names actions by field name alone.
				return nil, fmt.Errorf("hasurameta: %s%s.%s: an action named %s already exists; Hasura action names are shared by queries and mutations",
					at(f.Position), r.def.Name, f.Name, f.Name)
			}
			seen[f.Name] = true
			if err := d.action(r.def.Name, f); err != nil {
				return nil, err
			}
			roles := []string{userRole, mfaPendingRole}
			if public[f.Name] {
				roles = []string{anonymousRole, userRole, mfaPendingRole}
			}
			m.actions = append(m.actions, action{field: f, query: r.query, roles: roles})
		}
	}
	for _, name := range corePublicActions {
		if !seen[name] {
			return nil, fmt.Errorf("hasurameta: the public action %s is not a field of Mutation or Query; update publicActions in internal/hasurameta to match schema.graphql", name)
		}
	}

	for _, def := range d.reached {
		m.types = append(m.types, def)
	}
	sort.Slice(m.types, func(i, j int) bool { return before(m.types[i], m.types[j]) })
	return m, nil
}

// rootFields are a root type's fields without the introspection fields the
// parser adds to Query.
func rootFields(def *ast.Definition) []*ast.FieldDefinition {
	var out []*ast.FieldDefinition
	for _, f := range def.Fields {
		if !strings.HasPrefix(f.Name, "__") {
			out = append(out, f)
		}
	}
	return out
}

// action checks one root field's arguments and output and reaches the custom
// types they use.
func (d *deriver) action(rootName string, f *ast.FieldDefinition) error {
	where := rootName + "." + f.Name
	for _, arg := range f.Arguments {
		argWhere := fmt.Sprintf("%s argument %s", where, arg.Name)
		if arg.DefaultValue != nil {
			return fmt.Errorf("hasurameta: %s%s: argument defaults are not supported (Hasura actions have none, so the two doors would differ)",
				at(arg.Position), argWhere)
		}
		def := d.schema.Types[arg.Type.Name()]
		switch def.Kind {
		case ast.Scalar, ast.Enum:
			d.reach(def)
		case ast.InputObject:
			return fmt.Errorf("hasurameta: %s%s: input object type %s is not supported; use scalar or enum arguments",
				at(arg.Position), argWhere, def.Name)
		default:
			return fmt.Errorf("hasurameta: %s%s: %s type %s cannot be an argument",
				at(arg.Position), argWhere, kindName(def.Kind), def.Name)
		}
	}

	def := d.schema.Types[f.Type.Name()]
	switch def.Kind {
	case ast.Scalar:
		d.reach(def)
	case ast.Object:
		if err := d.object(def); err != nil {
			return err
		}
	case ast.Enum:
		return fmt.Errorf("hasurameta: %s%s: an action cannot return enum %s itself; return an object type with an enum field",
			at(f.Position), where, def.Name)
	default:
		return fmt.Errorf("hasurameta: %s%s: %s type %s is not supported as an action output; Hasura custom types are objects, enums and scalars",
			at(f.Position), where, kindName(def.Kind), def.Name)
	}
	return nil
}

// object reaches an object type and, through its fields, every type it uses.
func (d *deriver) object(def *ast.Definition) error {
	if d.reached[def.Name] != nil {
		return nil
	}
	d.reached[def.Name] = def
	for _, f := range def.Fields {
		where := def.Name + "." + f.Name
		if len(f.Arguments) > 0 {
			return fmt.Errorf("hasurameta: %s%s: fields of Hasura custom object types take no arguments",
				at(f.Position), where)
		}
		ft := d.schema.Types[f.Type.Name()]
		switch ft.Kind {
		case ast.Scalar, ast.Enum:
			d.reach(ft)
		case ast.Object:
			if err := d.object(ft); err != nil {
				return err
			}
		default:
			return fmt.Errorf("hasurameta: %s%s: %s type %s is not supported; Hasura custom types are objects, enums and scalars",
				at(f.Position), where, kindName(ft.Kind), ft.Name)
		}
	}
	return nil
}

// reach records a custom scalar or enum; Hasura knows the built-in scalars.
func (d *deriver) reach(def *ast.Definition) {
	if !def.BuiltIn {
		d.reached[def.Name] = def
	}
}

// before orders definitions as they appear in the schema text.
func before(a, b *ast.Definition) bool {
	pa, pb := a.Position, b.Position
	if pa == nil || pb == nil {
		return pa != nil || (pb == nil && a.Name < b.Name)
	}
	if pa.Start != pb.Start {
		return pa.Start < pb.Start
	}
	return a.Name < b.Name
}

// at prefixes an error with the schema line it is about.
func at(pos *ast.Position) string {
	if pos == nil || pos.Line == 0 {
		return ""
	}
	return fmt.Sprintf("schema.graphql:%d: ", pos.Line)
}

func kindName(k ast.DefinitionKind) string {
	switch k {
	case ast.InputObject:
		return "input object"
	case ast.Interface:
		return "interface"
	case ast.Union:
		return "union"
	case ast.Enum:
		return "enum"
	case ast.Object:
		return "object"
	default:
		return strings.ToLower(string(k))
	}
}
