"""Relief projects, matching runs, the offers queue and a case's "why": the charity staff's matching pages."""
