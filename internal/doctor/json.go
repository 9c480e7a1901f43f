package doctor

import (
	"encoding/json"
	"io"
)

// WriteJSON prints the report as one indented JSON document.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// ExitCode maps a report's status to the command's exit code: 0 when every
// peer is OK, 1 when the worst is a warning, 2 when a check failed.
func ExitCode(rep *Report) int { return rep.Status.rank() }
