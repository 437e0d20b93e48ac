package token

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxPathIndex bounds an array index in a path authgate writes at: a token
// is at most MaxTokenBytes, so no useful index is larger.
const maxPathIndex = 64

// pathStep is one step of a JSON path: an object member, or an array element
// when isIndex is set.
type pathStep struct {
	key     string
	index   int
	isIndex bool
}

// jsonPath is a path into a JSON value; empty is the value itself.
type jsonPath []pathStep

// errPathConflict is what set reports when two claims want the same place,
// or a place of another kind (an object where an array is).
var errPathConflict = errors.New("the path runs into a value already written")

// parseJSONPath reads a path in the syntax Hasura reads (Hasura's
// Data/Parser/JSONPath.hs, parseJSONPath): "$" alone is the whole value;
// else an optional "$" and one or more steps, each a name or .name (a
// letter or _, then letters, digits, - and _), or, after an optional dot,
// [n], ['…'] or ["…"] (a backslash takes the next character as it is). So
// "claims", ".claims", "$.hasura['x.y'][0]" are paths, and "$.1claims" is
// not.
func parseJSONPath(text string) (jsonPath, error) {
	if text == "$" {
		return jsonPath{}, nil
	}
	rest := strings.TrimPrefix(text, "$")
	var path jsonPath
	for rest != "" {
		step, after, err := nextPathStep(rest)
		if err != nil {
			return nil, err
		}
		path, rest = append(path, step), after
	}
	if len(path) == 0 {
		return nil, errors.New("it names no step")
	}
	return path, nil
}

// nextPathStep reads one step off the front of s.
func nextPathStep(s string) (pathStep, string, error) {
	body := strings.TrimPrefix(s, ".")
	if body == "" {
		return pathStep{}, "", errors.New("a step has no name")
	}
	if body[0] != '[' {
		first, size := utf8.DecodeRuneInString(body)
		if !unicode.IsLetter(first) && first != '_' {
			return pathStep{}, "", fmt.Errorf("a name must start with a letter or _, not %q (quote it: ['…'])", first)
		}
		end := size
		for end < len(body) {
			r, n := utf8.DecodeRuneInString(body[end:])
			if !unicode.IsLetter(r) && !('0' <= r && r <= '9') && r != '-' && r != '_' {
				break
			}
			end += n
		}
		return pathStep{key: body[:end]}, body[end:], nil
	}
	body = body[1:]
	switch {
	case body != "" && '0' <= body[0] && body[0] <= '9':
		end := strings.IndexByte(body, ']')
		if end < 0 {
			return pathStep{}, "", errors.New("a bracket is not closed")
		}
		n, err := strconv.Atoi(body[:end])
		if err != nil || n > maxPathIndex {
			return pathStep{}, "", fmt.Errorf("[%s] is not an index from 0 to %d", body[:end], maxPathIndex)
		}
		return pathStep{index: n, isIndex: true}, body[end+1:], nil
	case strings.HasPrefix(body, "'"), strings.HasPrefix(body, `"`):
		quote := body[0]
		var key strings.Builder
		for i := 1; i < len(body); i++ {
			switch c := body[i]; {
			case c == '\\' && i+1 < len(body):
				i++
				key.WriteByte(body[i])
			case c == quote:
				if i+1 >= len(body) || body[i+1] != ']' {
					return pathStep{}, "", errors.New("a quoted name must be followed by ]")
				}
				return pathStep{key: key.String()}, body[i+2:], nil
			default:
				key.WriteByte(c)
			}
		}
		return pathStep{}, "", errors.New("a bracket is not closed")
	}
	return pathStep{}, "", errors.New("a bracket must hold an index or a quoted name")
}

// String writes the path as Hasura writes one: $, .name for plain names,
// ['…'] for the rest, [n] for indices.
func (p jsonPath) String() string {
	var b strings.Builder
	b.WriteString("$")
	for _, s := range p {
		switch {
		case s.isIndex:
			fmt.Fprintf(&b, "[%d]", s.index)
		case isPlainName(s.key):
			b.WriteString("." + s.key)
		default:
			b.WriteString("['" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s.key) + "']")
		}
	}
	return b.String()
}

func isPlainName(s string) bool {
	for i, r := range s {
		if !(unicode.IsLetter(r) || r == '_' || i > 0 && (r == '-' || '0' <= r && r <= '9')) {
			return false
		}
	}
	return s != ""
}

// get returns the value at p in v, as decoded by encoding/json.
func (p jsonPath) get(v any) (any, bool) {
	for _, s := range p {
		if s.isIndex {
			list, ok := v.([]any)
			if !ok || s.index >= len(list) {
				return nil, false
			}
			v = list[s.index]
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[s.key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// set puts value at p in top, building the objects and arrays on the way
// (an array is padded with nulls up to the index). It fails with
// errPathConflict when p ends at a value already written (unless it is the
// same value) or passes through a value of another kind. p must not be
// empty or start with an index.
func (p jsonPath) set(top map[string]any, value any) error {
	if len(p) == 0 || p[0].isIndex {
		return errors.New("token: a claim's path must start with a name")
	}
	_, err := setAt(top, p, value)
	return err
}

func setAt(node any, p jsonPath, value any) (any, error) {
	if len(p) == 0 {
		if node != nil && !reflect.DeepEqual(node, value) {
			return nil, errPathConflict
		}
		return value, nil
	}
	step := p[0]
	if step.isIndex {
		list, ok := node.([]any)
		if node != nil && !ok {
			return nil, errPathConflict
		}
		for len(list) <= step.index {
			list = append(list, nil)
		}
		child, err := setAt(list[step.index], p[1:], value)
		if err != nil {
			return nil, err
		}
		list[step.index] = child
		return list, nil
	}
	obj, ok := node.(map[string]any)
	if node != nil && !ok {
		return nil, errPathConflict
	}
	if obj == nil {
		obj = map[string]any{}
	}
	child, err := setAt(obj[step.key], p[1:], value)
	if err != nil {
		return nil, err
	}
	obj[step.key] = child
	return obj, nil
}
