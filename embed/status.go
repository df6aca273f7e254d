package embed

import _ "embed" // for go:embed

// StatusPage is the operator's status page served at GET /: one
// self-contained HTML file (inline CSS and JavaScript, no external
// resources) that polls /api/status and /api/recent.
//
//go:embed status.html
var StatusPage []byte
