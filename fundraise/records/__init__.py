"""Government records about a person: the feed formats they arrive in and the sources that answer for them."""
