package rafthttp

import (
	"net/url"
	"testing"
)

func TestURLPicker(t *testing.T) {
	a, b, c := "http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"
	mustURL := func(s string) url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return *u
	}
	tests := []struct {
		name  string
		urls  []string
		steps func(p *urlPicker)
		want  string
	}{
		{"starts at the first sorted URL", []string{c, a, b}, func(*urlPicker) {}, a},
		{"is sticky", []string{a, b}, func(p *urlPicker) { p.pick(); p.pick() }, a},
		{"moves on when the picked URL fails", []string{a, b, c}, func(p *urlPicker) { p.unreachable(mustURL(a)) }, b},
		{"ignores failures of a URL already left", []string{a, b, c}, func(p *urlPicker) {
			p.unreachable(mustURL(a))
			p.unreachable(mustURL(a))
		}, b},
		{"ignores failures of URLs not picked", []string{a, b, c}, func(p *urlPicker) { p.unreachable(mustURL(c)) }, a},
		{"ignores failures of unknown URLs", []string{a, b}, func(p *urlPicker) { p.unreachable(mustURL("http://10.0.0.1:9")) }, a},
		{"wraps around", []string{a, b}, func(p *urlPicker) {
			p.unreachable(mustURL(a))
			p.unreachable(mustURL(b))
		}, a},
		{"a single URL stays", []string{a}, func(p *urlPicker) { p.unreachable(mustURL(a)) }, a},
		{"update replaces and restarts", []string{a, b}, func(p *urlPicker) {
			p.unreachable(mustURL(a))
			p.update(utMustURLs(t, c, b))
		}, b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newURLPicker(utMustURLs(t, tt.urls...))
			tt.steps(p)
			if got := p.pick(); got.String() != tt.want {
				t.Errorf("pick() = %s, want %s", got.String(), tt.want)
			}
		})
	}
}

func TestURLPickerReturnsACopy(t *testing.T) {
	p := newURLPicker(utMustURLs(t, "http://127.0.0.1:1"))
	u := p.pick()
	u.Path = "/raft"
	if got := p.pick(); got.Path != "" {
		t.Errorf("changing a picked URL changed the picker: path %q", got.Path)
	}
}

func TestURLPickerEmpty(t *testing.T) {
	p := newURLPicker(nil)
	if got := p.pick(); got != (url.URL{}) {
		t.Errorf("pick() on an empty picker = %v, want the zero URL", got)
	}
	p.unreachable(url.URL{Scheme: "http", Host: "x:1"}) // must not panic
}
