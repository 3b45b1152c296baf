"""Registration, sign-in, sign-out, language choice and the account page (API tokens)."""
