package hasurameta

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// header opens both files: they are outputs, and whoever merges them into
// another Hasura project should know where they come from.
const header = "Generated from authgate's schema.graphql by `go generate ./internal/hasurameta`:\n" +
	"change schema.graphql and regenerate rather than editing this file.\n"

// graphQL writes actions.graphql: the root types as Hasura reads them
// (type Mutation { … } and type Query { … }, whatever the schema calls them),
// then the custom types, each with its description.
func (m *metadata) graphQL() []byte {
	var b strings.Builder
	writeComment(&b, header)
	// Actions are grouped by root type already: write one type per run.
	for i := 0; i < len(m.actions); {
		j := i
		for j < len(m.actions) && m.actions[j].query == m.actions[i].query {
			j++
		}
		root := "Mutation"
		if m.actions[i].query {
			root = "Query"
		}
		fmt.Fprintf(&b, "\ntype %s {\n", root)
		for _, a := range m.actions[i:j] {
			writeField(&b, a.field)
		}
		b.WriteString("}\n")
		i = j
	}
	for _, def := range m.types {
		b.WriteString("\n")
		writeDescription(&b, "", def.Description)
		switch def.Kind {
		case ast.Scalar:
			fmt.Fprintf(&b, "scalar %s\n", def.Name)
		case ast.Enum:
			fmt.Fprintf(&b, "enum %s {\n", def.Name)
			for _, v := range def.EnumValues {
				writeDescription(&b, "  ", v.Description)
				fmt.Fprintf(&b, "  %s\n", v.Name)
			}
			b.WriteString("}\n")
		case ast.Object:
			fmt.Fprintf(&b, "type %s {\n", def.Name)
			for _, f := range def.Fields {
				writeField(&b, f)
			}
			b.WriteString("}\n")
		}
	}
	return []byte(b.String())
}

// writeField writes one field with its description; arguments go on their own
// lines when any of them has a description.
func writeField(b *strings.Builder, f *ast.FieldDefinition) {
	writeDescription(b, "  ", f.Description)
	b.WriteString("  " + f.Name)
	if len(f.Arguments) > 0 {
		multiline := false
		for _, a := range f.Arguments {
			multiline = multiline || a.Description != ""
		}
		if multiline {
			b.WriteString("(\n")
			for _, a := range f.Arguments {
				writeDescription(b, "    ", a.Description)
				fmt.Fprintf(b, "    %s: %s\n", a.Name, a.Type.String())
			}
			b.WriteString("  )")
		} else {
			args := make([]string, len(f.Arguments))
			for i, a := range f.Arguments {
				args[i] = a.Name + ": " + a.Type.String()
			}
			b.WriteString("(" + strings.Join(args, ", ") + ")")
		}
	}
	fmt.Fprintf(b, ": %s\n", f.Type.String())
}

// writeDescription writes a GraphQL description as a one-line string: escapes
// keep it exact, where a block string would have its indentation trimmed.
func writeDescription(b *strings.Builder, indent, desc string) {
	if desc == "" {
		return
	}
	b.WriteString(indent + graphQLString(desc) + "\n")
}

// graphQLString quotes s as a GraphQL string value.
func graphQLString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// yaml writes actions.yaml in the shape the Hasura CLI reads and writes:
// per action its handler, secret header, client header forwarding, roles and
// description (the CLI takes an action's description from comment, and a
// custom type's from description, not from actions.graphql); then the custom
// types by kind. Keys are in a fixed order so the file is stable.
func (m *metadata) yaml() []byte {
	var b strings.Builder
	writeComment(&b, header)
	b.WriteString("\nactions:\n")
	for _, a := range m.actions {
		fmt.Fprintf(&b, "  - name: %s\n", yamlString(a.field.Name))
		b.WriteString("    definition:\n")
		if a.query {
			b.WriteString("      type: query\n")
		} else {
			b.WriteString("      kind: synchronous\n")
		}
		fmt.Fprintf(&b, "      handler: %s\n", yamlString(handlerURL))
		b.WriteString("      forward_client_headers: true\n")
		b.WriteString("      headers:\n")
		fmt.Fprintf(&b, "        - name: %s\n", yamlString(secretHeader))
		fmt.Fprintf(&b, "          value_from_env: %s\n", yamlString(secretEnv))
		b.WriteString("    permissions:\n")
		for _, role := range a.roles {
			fmt.Fprintf(&b, "      - role: %s\n", yamlString(role))
		}
		if a.field.Description != "" {
			fmt.Fprintf(&b, "    comment: %s\n", yamlString(a.field.Description))
		}
	}
	b.WriteString("custom_types:\n")
	for _, kind := range []struct {
		key  string
		kind ast.DefinitionKind
	}{
		{"enums", ast.Enum},
		{"input_objects", ast.InputObject},
		{"objects", ast.Object},
		{"scalars", ast.Scalar},
	} {
		var defs []*ast.Definition
		for _, def := range m.types {
			if def.Kind == kind.kind {
				defs = append(defs, def)
			}
		}
		if len(defs) == 0 {
			fmt.Fprintf(&b, "  %s: []\n", kind.key)
			continue
		}
		fmt.Fprintf(&b, "  %s:\n", kind.key)
		for _, def := range defs {
			fmt.Fprintf(&b, "    - name: %s\n", yamlString(def.Name))
			if def.Description != "" {
				fmt.Fprintf(&b, "      description: %s\n", yamlString(def.Description))
			}
		}
	}
	return []byte(b.String())
}

// plainYAML matches strings that YAML reads back as the same string when
// written unquoted.
var plainYAML = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// yamlString writes s as a YAML scalar that reads back as the string s:
// plain when that is safe, else double-quoted (Go's escapes are YAML's).
func yamlString(s string) string {
	if plainYAML.MatchString(s) {
		switch strings.ToLower(s) {
		case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		default:
			return s
		}
	}
	return strconv.Quote(s)
}

// writeComment writes text as '#' comment lines, valid in GraphQL and YAML.
func writeComment(b *strings.Builder, text string) {
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		b.WriteString("# " + line + "\n")
	}
}
