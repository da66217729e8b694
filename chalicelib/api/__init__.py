"""API conventions shared by every route: validation, errors, OpenAPI, observability."""
