"""The web pages' shared parts: the blueprints' registration and the sign-in loaders (`blueprints`), template
helpers, form fields, a service's field errors put on a form (`forms`), the page cache and safe redirects.
Blueprints import from here; nothing here is imported by this package's own `__init__`, so no blueprint import
goes round in a circle."""
