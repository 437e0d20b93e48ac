package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The session variables authgate owns; every other x-hasura-* claim is Custom.
const (
	hasuraPrefix      = "x-hasura-"
	claimUserID       = "x-hasura-user-id"
	claimDefaultRole  = "x-hasura-default-role"
	claimAllowedRoles = "x-hasura-allowed-roles"
	claimSessionID    = "x-hasura-session-id"
	// claimAuthLevel is the sign-in's assurance level, "1" or "2".
	claimAuthLevel = "x-hasura-auth-level"
	// claimRole is the role Hasura picks per request from the allowed roles;
	// a token never carries it.
	claimRole = "x-hasura-role"
)

// reservedSessionVariable names the session variables authgate writes from
// Claims' own fields, never from Custom.
func reservedSessionVariable(name string) bool {
	switch name {
	case claimUserID, claimSessionID, claimDefaultRole, claimAllowedRoles, claimAuthLevel:
		return true
	}
	return false
}

var (
	errNoNamespace = errors.New("the Hasura claims namespace is missing")
	errNotString   = errors.New("not a string")
)

// claimsLayout says where a token's Hasura session variables sit, as
// Hasura's JWT config says: in one namespace object (claims_namespace or
// claims_namespace_path, perhaps as a JSON string), or each where
// claims_map points.
type claimsLayout struct {
	namespace   jsonPath // empty: the top level of the payload ($)
	stringified bool     // claims_format stringified_json: the namespace is a JSON string holding the object
	// claimsMap, when set, replaces the namespace (as in Hasura).
	claimsMap []mappedClaim
}

// mappedClaim is one session variable of a claims_map: read from a path of
// the token's payload, with an optional default, or a fixed value.
type mappedClaim struct {
	name string
	path jsonPath // nil: the value is fixed
	// value is the fixed value, or the default (nil: none). A list of
	// roles is a []any of strings, as encoding/json decodes one.
	value any
}

// place writes the session variables vars (see Claims.sessionVariables)
// into the payload where the layout says.
func (l *claimsLayout) place(payload map[string]any, vars map[string]any) error {
	if l.claimsMap != nil {
		for _, mc := range l.claimsMap {
			if mc.path == nil {
				continue // a fixed value: Hasura needs nothing from the token
			}
			v, ok := vars[mc.name]
			if !ok {
				if mc.value != nil {
					continue // Hasura takes the default
				}
				return fmt.Errorf("claims_map reads %s, which this token does not carry (set it for the user, or give it a default)", mc.name)
			}
			if err := mc.path.set(payload, v); err != nil {
				return fmt.Errorf("claims_map puts %s at %s, where another claim is", mc.name, mc.path)
			}
		}
		return nil
	}
	if len(l.namespace) == 0 {
		maps.Copy(payload, vars)
		return nil
	}
	var value any = vars
	if l.stringified {
		text, err := json.Marshal(vars)
		if err != nil {
			return err
		}
		value = string(text)
	}
	return l.namespace.set(payload, value)
}

// members returns the session variables of a decoded payload, by name, as
// Hasura reads them (Server/Auth/JWT.hs, parseClaimsMap).
func (l *claimsLayout) members(top map[string]any) (map[string]any, error) {
	if l.claimsMap != nil {
		return l.mappedMembers(top)
	}
	current, ok := l.namespace.get(top)
	if !ok {
		return nil, errNoNamespace
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

// mappedMembers reads a claims_map: each path in the whole payload (or its
// default), each fixed value as it is. The user and session, when the map
// does not name them, are the token's sub and sid: Hasura then sees
// neither, but authgate still knows whose token it is.
func (l *claimsLayout) mappedMembers(top map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(l.claimsMap)+2)
	out[claimUserID], out[claimSessionID] = top["sub"], top["sid"]
	for _, mc := range l.claimsMap {
		v := mc.value
		if mc.path != nil {
			found, ok := mc.path.get(top)
			switch {
			case ok:
				v = found
			case v == nil:
				return nil, fmt.Errorf("claim %s from claims_map is not at %s", mc.name, mc.path)
			}
		}
		out[mc.name] = v
	}
	return out, nil
}

// parseClaimsMap reads claims_map as Hasura does (Server/Auth/JWT.hs,
// JWTCustomClaimsMap's FromJSON): an object from session variable names to
// {"path": "<JSON path>", "default": …} or a fixed value;
// x-hasura-allowed-roles (a list of roles) and x-hasura-default-role are
// required. Names other than x-hasura-* are ignored, as Hasura ignores
// them, with a warning. authgate also refuses a fixed user or session id
// (every user's would be the same) and x-hasura-role (chosen per request).
func parseClaimsMap(raw json.RawMessage) ([]mappedClaim, []string, error) {
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil || entries == nil {
		return nil, nil, secretError("claims_map must be a JSON object")
	}
	var (
		out      []mappedClaim
		warnings []string
		seen     = map[string]bool{}
	)
	for _, key := range slices.Sorted(maps.Keys(entries)) {
		name := strings.ToLower(key)
		bad := func(why string) error { return secretError(fmt.Sprintf("claims_map %s: %s", key, why)) }
		switch {
		case !strings.HasPrefix(name, hasuraPrefix):
			warnings = append(warnings, secretError(fmt.Sprintf("claims_map %q is not an x-hasura-* session variable; Hasura ignores it, and so does authgate", key)).Error())
			continue
		case seen[name]:
			return nil, nil, bad("is named twice (names are case-insensitive)")
		case name == claimRole:
			return nil, nil, bad("Hasura picks the role per request; a token never carries it")
		}
		seen[name] = true
		mc := mappedClaim{name: name}
		var spec struct {
			Path    *string         `json:"path"`
			Default json.RawMessage `json:"default"`
		}
		value := entries[key]
		if isJSONObject(value) {
			if err := json.Unmarshal(value, &spec); err != nil || spec.Path == nil {
				return nil, nil, bad(`an object must hold "path", a string`)
			}
			path, err := parseJSONPath(*spec.Path)
			if err != nil {
				return nil, nil, bad(fmt.Sprintf("path %q: %s", *spec.Path, err))
			}
			if len(path) == 0 || path[0].isIndex {
				return nil, nil, bad(fmt.Sprintf("path %q must start with a name: a token's payload is an object", *spec.Path))
			}
			mc.path, value = path, spec.Default
		} else if name == claimUserID || name == claimSessionID {
			return nil, nil, bad(`must be {"path": …}: a fixed value would be every user's`)
		}
		if present(value) {
			v, err := mappedValue(name, value)
			if err != nil {
				return nil, nil, bad(err.Error())
			}
			mc.value = v
		} else if mc.path == nil {
			return nil, nil, bad("needs a value or a path")
		}
		out = append(out, mc)
	}
	for _, required := range []string{claimAllowedRoles, claimDefaultRole} {
		if !seen[required] {
			return nil, nil, secretError(fmt.Sprintf("claims_map needs %s (Hasura requires it)", required))
		}
	}
	return out, warnings, nil
}

// mappedValue reads a fixed value or default of claims_map: a list of role
// names for x-hasura-allowed-roles, a string for everything else.
func mappedValue(name string, raw json.RawMessage) (any, error) {
	if name == claimAllowedRoles {
		var roles []string
		if err := json.Unmarshal(raw, &roles); err != nil {
			return nil, errors.New("the value must be a list of role names")
		}
		list := make([]any, len(roles))
		for n, r := range roles {
			list[n] = r
		}
		return list, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, errors.New("the value must be a string")
	}
	return s, nil
}

func isJSONObject(raw json.RawMessage) bool {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c == '{'
	}
	return false
}

// hasuraClaims are the x-hasura-* values a token carries.
type hasuraClaims struct {
	userID       string
	sessionID    string
	defaultRole  string
	allowedRoles []string
	authLevel    int
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
		case claimAuthLevel:
			switch text {
			case "1":
				h.authLevel = 1
			case "2":
				h.authLevel = 2
			default:
				return errors.New(claimAuthLevel + ` is not "1" or "2"`)
			}
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
