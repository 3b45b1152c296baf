"""Background jobs: the outbox relay, the rq worker entry point, and the jobs themselves."""
