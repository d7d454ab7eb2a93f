package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/hubchantier/hubgate/upstream/console"
)

// consoleProviders reads the console's external sign-in providers
// (docs/console.md): HUB_CONSOLE_GOOGLE_CLIENT_ID and _SECRET enable "Sign
// in with Google", HUB_CONSOLE_GITHUB_CLIENT_ID and _SECRET "Sign in with
// GitHub". HUB_CONSOLE_GOOGLE_URLS and HUB_CONSOLE_GITHUB_URLS replace the
// providers' endpoints (authorization, token, then UserInfo or email list,
// separated by spaces): GitHub Enterprise Server, another OpenID Connect
// provider, or a test's stand-in.
func (c *cli) consoleProviders() ([]console.Provider, error) {
	var out []console.Provider
	for _, p := range []struct {
		idVar, secretVar, urlsVar string
		make                      func(id, secret string) console.Provider
	}{
		{"HUB_CONSOLE_GOOGLE_CLIENT_ID", "HUB_CONSOLE_GOOGLE_CLIENT_SECRET", "HUB_CONSOLE_GOOGLE_URLS", console.Google},
		{"HUB_CONSOLE_GITHUB_CLIENT_ID", "HUB_CONSOLE_GITHUB_CLIENT_SECRET", "HUB_CONSOLE_GITHUB_URLS", console.GitHub},
	} {
		id := c.getenv(p.idVar)
		secret := c.getenv(p.secretVar)
		urls := strings.Fields(c.getenv(p.urlsVar))
		if id == "" && secret == "" {
			continue
		}
		if id == "" || secret == "" {
			return nil, fmt.Errorf("%s and %s must be set together", p.idVar, p.secretVar)
		}
		prov := p.make(id, secret)
		if len(urls) > 0 {
			if len(urls) != 3 {
				return nil, fmt.Errorf("%s must hold three URLs (authorization, token, user), separated by spaces", p.urlsVar)
			}
			for _, u := range urls {
				if v, err := url.Parse(u); err != nil || (v.Scheme != "https" && v.Scheme != "http") || v.Host == "" {
					return nil, fmt.Errorf("%s: %q is not an absolute http(s) URL", p.urlsVar, u)
				}
			}
			prov.AuthURL, prov.TokenURL, prov.UserURL = urls[0], urls[1], urls[2]
		}
		out = append(out, prov)
	}
	return out, nil
}
