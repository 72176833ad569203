package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"crmsync/agent"
)

// MaxFolderBytes bounds a folder name. Real names are far shorter; the
// bound keeps a runaway argument from travelling on to the CRM.
const MaxFolderBytes = 1000

// wireFolderRule is an agent.FolderRule on the wire.
type wireFolderRule struct {
	ID        string  `json:"id"`
	Folder    string  `json:"folder"`
	Regarding wireRef `json:"regarding"`
}

func folderRuleToWire(r agent.FolderRule) wireFolderRule {
	return wireFolderRule{ID: r.ID, Folder: r.Folder, Regarding: wireRef{Entity: r.Regarding.Entity, ID: r.Regarding.ID, Name: r.Regarding.Name}}
}

func folderRuleFromWire(w wireFolderRule) agent.FolderRule {
	return agent.FolderRule{ID: w.ID, Folder: w.Folder, Regarding: agent.RecordRef{Entity: w.Regarding.Entity, ID: w.Regarding.ID, Name: w.Regarding.Name}}
}

// ValidateFolder checks a mail folder name as the mail server spells it
// ("INBOX/Kunden/Müller GmbH", ".Contoso"). Spaces, slashes, dots and
// non-ASCII letters are all part of real names and pass; what is refused
// could only be a mistake or an attack: nothing at all, text that is not
// UTF-8 (JSON would silently turn it into another name), control
// characters (they would end up in the CRM and in terminals), and a "." or
// ".." step, which in a Maildir would leave the mail directory.
func ValidateFolder(f string) error {
	switch {
	case strings.TrimSpace(f) == "":
		return errors.New("a folder name is required, as the mail server names it (for example INBOX/Contoso)")
	case len(f) > MaxFolderBytes:
		return fmt.Errorf("folder name is too long (%d bytes; at most %d)", len(f), MaxFolderBytes)
	case !utf8.ValidString(f) || strings.ContainsRune(f, utf8.RuneError):
		return errors.New("folder name is not valid UTF-8; write it as the mail program shows it")
	case strings.IndexFunc(f, unicode.IsControl) >= 0:
		return fmt.Errorf("folder name %q contains a control character; remove it and try again", clip(f, 60))
	}
	for _, step := range strings.Split(f, "/") {
		if step == "." || step == ".." {
			return fmt.Errorf("folder name %q must not contain a %q step; use the folder's own name", clip(f, 60), step)
		}
	}
	return nil
}

// folderCommand runs the folder rule commands; the caller has checked
// the fields already.
func (h *handler) folderCommand(ctx context.Context, req request) (any, error) {
	if req.Cmd == cmdFolders {
		rules, err := h.be.FolderRules(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]wireFolderRule, 0, len(rules))
		for _, r := range rules {
			out = append(out, folderRuleToWire(r))
		}
		return out, nil
	}
	if err := ValidateFolder(req.Folder); err != nil {
		return nil, badRequest{err.Error()}
	}
	if req.Cmd == cmdRemoveFolder {
		return nil, h.be.RemoveFolderRule(ctx, req.Folder)
	}
	if err := validateRef(req.Entity, req.ID); err != nil {
		return nil, badRequest{err.Error()}
	}
	ref := agent.RecordRef{Entity: req.Entity, ID: strings.ToLower(req.ID)}
	rule, err := h.be.AddFolderRule(ctx, req.Folder, ref)
	if err != nil {
		return nil, err
	}
	return folderRuleToWire(rule), nil
}
