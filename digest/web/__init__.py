"""The web app: editors preview and approve issues; subscribers unsubscribe, set preferences,
sign up and read the archive. `create_app` in `digest.web.app` builds it; `digest serve` runs it.
"""
