package types

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
)

var (
	// ErrNoURLs is returned by NewURLs when it is given no strings at all.
	ErrNoURLs = errors.New("types: no URLs given")
	// ErrInvalidURL is wrapped by every other NewURLs error, so callers can
	// test for a rejected URL with errors.Is.
	ErrInvalidURL = errors.New("types: invalid URL")
)

// URLs is a list of peer or client URLs. NewURLs returns it sorted by each
// URL's String form; a nil URLs is an empty list.
type URLs []url.URL

// NewURLs parses strs into a sorted URLs. Surrounding spaces are trimmed
// from each string. The scheme must be http, https, unix or unixs. For http
// and https the host must have the form host:port and the path must be
// empty; unix and unixs URLs are taken as written. An empty or nil strs is
// an error (ErrNoURLs); any other rejection wraps ErrInvalidURL.
func NewURLs(strs []string) (URLs, error) {
	if len(strs) == 0 {
		return nil, ErrNoURLs
	}
	out := make(URLs, 0, len(strs))
	for _, s := range strs {
		u, err := parseURL(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	out.Sort()
	return out, nil
}

// parseURL parses one trimmed string and applies the scheme rules.
func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrInvalidURL, s, err)
	}
	switch u.Scheme {
	case "unix", "unixs":
		return u, nil
	case "http", "https":
	default:
		return nil, fmt.Errorf("%w %q: scheme must be http, https, unix or unixs", ErrInvalidURL, s)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return nil, fmt.Errorf("%w %q: host must have the form host:port", ErrInvalidURL, s)
	}
	if u.Path != "" {
		return nil, fmt.Errorf("%w %q: a path is not allowed", ErrInvalidURL, s)
	}
	return u, nil
}

// String joins the URLs with commas and no spaces, in the list's current
// order. An empty or nil list yields "".
func (us URLs) String() string {
	return strings.Join(us.StringSlice(), ",")
}

// StringSlice returns the String form of each URL, in order. It returns an
// empty, non-nil slice for an empty list.
func (us URLs) StringSlice() []string {
	out := make([]string, len(us))
	for i := range us {
		out[i] = us[i].String()
	}
	return out
}

// Sort orders the list in place by each URL's String form.
func (us *URLs) Sort() {
	sort.Sort(us)
}

// Len returns the number of URLs; it is part of sort.Interface.
func (us URLs) Len() int { return len(us) }

// Less compares the String forms of us[i] and us[j]; it is part of
// sort.Interface.
func (us URLs) Less(i, j int) bool { return us[i].String() < us[j].String() }

// Swap exchanges us[i] and us[j]; it is part of sort.Interface.
func (us URLs) Swap(i, j int) { us[i], us[j] = us[j], us[i] }
