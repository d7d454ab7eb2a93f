package contract

// JWK is one public key of the JWKS (RFC 8037 §2 for OKP keys).
type JWK struct {
	// Kty is "OKP", Crv "Ed25519", X the base64url public key (RFC 8037),
	// Kid its RFC 7638 thumbprint, Alg "EdDSA" and Use "sig".
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is the document served at PathJWKS (RFC 7517 §5).
type JWKS struct {
	// Keys are the published public keys.
	Keys []JWK `json:"keys"`
}
