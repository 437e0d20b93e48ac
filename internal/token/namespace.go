package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The session variables authgate owns; every other x-hasura-* claim is Custom.
const (
	hasuraPrefix      = "x-hasura-"
	claimUserID       = "x-hasura-user-id"
	claimDefaultRole  = "x-hasura-default-role"
	claimAllowedRoles = "x-hasura-allowed-roles"
	claimSessionID    = "x-hasura-session-id"
	// claimRole is the role Hasura picks per request from the allowed roles;
	// a token never carries it.
	claimRole = "x-hasura-role"
)

var (
	errNoNamespace = errors.New("the Hasura claims namespace is missing")
	errNotString   = errors.New("not a string")
)

// namespaceLayout says where the Hasura claims sit in the payload.
type namespaceLayout struct {
	path        []string // object keys from the top of the payload down; empty means the top level ($)
	stringified bool     // claims_format stringified_json: the namespace is a JSON string holding the object
}

// parseNamespacePath reads the JSON path subset Hasura's claims_namespace_path
// takes for objects: $ followed by .name, ['name'] or ["name"] steps.
func parseNamespacePath(path string) ([]string, error) {
	bad := func(why string) error {
		return secretError(fmt.Sprintf("claims_namespace_path %q is not a JSON path like $.hasura.claims or $: %s", path, why))
	}
	rest, ok := strings.CutPrefix(path, "$")
	if !ok {
		return nil, bad("it must start with $")
	}
	var steps []string
	for rest != "" {
		var name string
		switch {
		case rest[0] == '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name, rest = rest[:end], rest[end:]
		case strings.HasPrefix(rest, "['"), strings.HasPrefix(rest, `["`):
			closing := rest[1:2] + "]"
			end := strings.Index(rest[2:], closing)
			if end < 0 {
				return nil, bad("a bracket is not closed")
			}
			name, rest = rest[2:2+end], rest[2+end+2:]
		default:
			return nil, bad("only .name and ['name'] steps are supported")
		}
		if name == "" {
			return nil, bad("a step has no name")
		}
		steps = append(steps, name)
	}
	return steps, nil
}

// place puts the namespace object into the payload, building the objects on
// its path.
func (l *namespaceLayout) place(payload map[string]any, namespace map[string]any) error {
	if len(l.path) == 0 {
		for name, value := range namespace {
			payload[name] = value
		}
		return nil
	}
	var value any = namespace
	if l.stringified {
		text, err := json.Marshal(namespace)
		if err != nil {
			return err
		}
		value = string(text)
	}
	obj := payload
	for _, step := range l.path[:len(l.path)-1] {
		child := map[string]any{}
		obj[step] = child
		obj = child
	}
	obj[l.path[len(l.path)-1]] = value
	return nil
}

// members returns the namespace object, given the decoded payload.
func (l *namespaceLayout) members(top map[string]any) (map[string]any, error) {
	if len(l.path) == 0 {
		return top, nil
	}
	current := top[l.path[0]]
	for _, step := range l.path[1:] {
		obj, _ := current.(map[string]any)
		current = obj[step]
	}
	if l.stringified {
		text, ok := current.(string)
		if !ok {
			return nil, errors.New("the Hasura claims namespace is not a JSON string (claims_format stringified_json)")
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(text), &obj); err != nil {
			return nil, fmt.Errorf("the Hasura claims namespace: %w", err)
		}
		current = obj
	}
	obj, ok := current.(map[string]any)
	if !ok || obj == nil {
		return nil, errNoNamespace
	}
	return obj, nil
}

// hasuraClaims are the x-hasura-* values a token carries.
type hasuraClaims struct {
	userID       string
	sessionID    string
	defaultRole  string
	allowedRoles []string
	custom       map[string]string
}

// decode reads the namespace members. Only x-hasura-* members count (at $ the
// namespace is the whole payload); each is a string but the allowed-roles list.
func (h *hasuraClaims) decode(members map[string]any) error {
	for name, value := range members {
		if len(name) < len(hasuraPrefix) || !strings.EqualFold(name[:len(hasuraPrefix)], hasuraPrefix) {
			continue
		}
		// Hasura folds case; authgate only writes lower case, so anything else is not ours.
		if name != strings.ToLower(name) {
			return fmt.Errorf("claim %q is not lower case", name)
		}
		if name == claimAllowedRoles {
			list, ok := value.([]any)
			if !ok {
				return errors.New(claimAllowedRoles + " is not a list")
			}
			roles, err := stringList(list)
			if err != nil {
				return fmt.Errorf("%s: %w", claimAllowedRoles, err)
			}
			h.allowedRoles = roles
			continue
		}
		text, ok := value.(string)
		if !ok {
			return fmt.Errorf("claim %q: %w", name, errNotString)
		}
		switch name {
		case claimUserID:
			h.userID = text
		case claimSessionID:
			h.sessionID = text
		case claimDefaultRole:
			h.defaultRole = text
		case claimRole:
			return errors.New(claimRole + " is chosen per request, never carried in a token")
		default:
			if h.custom == nil {
				h.custom = make(map[string]string)
			}
			h.custom[name] = text
		}
	}
	return nil
}

func stringList(list []any) ([]string, error) {
	out := make([]string, len(list))
	for n, item := range list {
		s, ok := item.(string)
		if !ok {
			return nil, errNotString
		}
		out[n] = s
	}
	return out, nil
}
