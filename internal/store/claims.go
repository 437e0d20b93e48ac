package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// claimsJSON is a jsonb object of string values (auth.users.custom_claims).
type claimsJSON map[string]string

// Scan reads jsonb.
func (c *claimsJSON) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	case nil:
		*c = nil
		return nil
	default:
		return fmt.Errorf("custom_claims: unexpected %T", src)
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("custom_claims: %w", err)
	}
	*c = m
	return nil
}

// Value writes jsonb.
func (c claimsJSON) Value() (driver.Value, error) {
	if c == nil {
		return "{}", nil
	}
	// A string, not []byte: lib/pq would send bytes as bytea.
	b, err := json.Marshal(map[string]string(c))
	return string(b), err
}
