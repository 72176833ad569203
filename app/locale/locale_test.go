package locale

import "testing"

func TestLanguage(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string // "" means LANGUAGE is left alone
	}{
		{map[string]string{}, ""},
		{map[string]string{"LANG": "C"}, ""},
		{map[string]string{"LANG": "POSIX"}, ""},
		{map[string]string{"LANG": "C.UTF-8"}, "en"},
		{map[string]string{"LANG": "C.utf8"}, "en"},
		{map[string]string{"LANG": "en_GB.UTF-8"}, ""},
		{map[string]string{"LANG": "de_DE.UTF-8", "LC_ALL": "C.UTF-8"}, "en"},
		{map[string]string{"LANG": "C.UTF-8", "LC_MESSAGES": "fr_FR.UTF-8"}, ""},
		{map[string]string{"LANG": "C.UTF-8", "LANGUAGE": "de:fr"}, ""},
		{map[string]string{"LANG": "C.UTF-8", "LANGUAGE": "de:C"}, "de"},
		{map[string]string{"LANG": "en_US.UTF-8", "LANGUAGE": "C.UTF-8"}, "en"},
		{map[string]string{"LC_ALL": "C", "LANGUAGE": "C.UTF-8"}, ""}, // go-locale ignores LANGUAGE under C
	}
	for _, tt := range tests {
		got, ok := language(func(k string) string { return tt.env[k] })
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("%v: LANGUAGE=%q (change %v), want %q", tt.env, got, ok, tt.want)
		}
	}
}
