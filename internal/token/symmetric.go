package token

// SymmetricKey returns the HS* signing secret, or nil for asymmetric keys.
// authgate derives its refresh-token hashing key from it when no separate
// secret is configured.
func (c *Config) SymmetricKey() []byte {
	if !c.symmetric {
		return nil
	}
	secret, _ := c.keys[0].sign.([]byte)
	return append([]byte(nil), secret...)
}
