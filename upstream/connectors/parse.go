package connectors

import "encoding/json"

// ValidateWith is a Type's Validate made of its configuration parser.
func ValidateWith[C Connector](parse func(cfg map[string]any, env Env) (C, error)) func(map[string]any, Env) error {
	return func(cfg map[string]any, env Env) error {
		_, err := parse(cfg, env)
		return err
	}
}

// NewWith is a Type's New made of the same parser: the stored
// configuration is decoded and parsed, then bind (nil: none) completes
// the connector for use (its Env, clients).
func NewWith[C Connector](parse func(cfg map[string]any, env Env) (C, error), bind func(c C, env Env) error) func(string, json.RawMessage, Env) (Connector, error) {
	return func(_ string, raw json.RawMessage, env Env) (Connector, error) {
		var cfg map[string]any
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, err
		}
		c, err := parse(cfg, env)
		if err != nil {
			return nil, err
		}
		if bind != nil {
			if err := bind(c, env); err != nil {
				return nil, err
			}
		}
		return c, nil
	}
}
