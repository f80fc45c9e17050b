"""A faithful local X API v2 follows emulator: state, app, server."""
