"""shorten.dev action handlers: only the actions with logic beyond one declarative request."""
